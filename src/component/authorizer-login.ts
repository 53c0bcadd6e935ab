import type { AppConfig } from '../config/config.js';
import type { ComponentClient } from '../wechat/component-api.js';
import type { Code2SessionResult } from '../wechat/wechat-client.js';
import { isTokenInvalid } from '../wechat/wechat-error.js';
import type { ComponentTokens } from './authorizer-tokens.js';

/**
 * The login exchange of a platform's mini programs: an authorizer has no AppSecret in wxtoken,
 * so its wx.login code goes to /sns/component/jscode2session with the platform's live component
 * token. A component token WeChat refuses (40001/40014/42001) is compare-and-refreshed once
 * and the exchange sent again: WeChat checks the token before it looks at the code, so the code
 * is still unused.
 */
export function authorizerCode2Session(deps: {
  readonly client: Pick<ComponentClient, 'code2Session'>;
  readonly tokens: ComponentTokens;
}): (app: AppConfig, jsCode: string) => Promise<Code2SessionResult> {
  return async (app, jsCode) => {
    const componentAppId = app.component;
    if (componentAppId === undefined) throw new Error(`${app.appId} is not an authorizer`);
    const exchange = (token: string) =>
      deps.client.code2Session(token, componentAppId, app.appId, jsCode);
    const token = await deps.tokens.live(componentAppId);
    try {
      return await exchange(token.value);
    } catch (err) {
      if (!isTokenInvalid(err)) throw err;
      const fresh = await deps.tokens.recover(componentAppId, token);
      if (fresh.value === token.value) throw err;
      return exchange(fresh.value);
    }
  };
}
