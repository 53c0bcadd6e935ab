import type { ComponentConfig } from '../config/config.js';
import type { CredentialKind } from '../refresher/credential-kind.js';
import type { ComponentClient } from '../wechat/component-api.js';
import { WeChatError } from '../wechat/wechat-error.js';
import type { ComponentStore } from './component-store.js';

/**
 * A platform's component_access_token as a credential kind: fetched with the newest
 * component_verify_ticket WeChat pushed (shared by every replica through the store). Without
 * one there is nothing to call with: the attempt fails (retried with backoff) until the first
 * push arrives, and a push wakes the schedule at once. 61005 (expired) and 61006 (invalid)
 * are configuration errors: the next push (every 10 minutes) fixes them, and it too wakes
 * the schedule.
 */
export function componentTokenKind(
  components: ReadonlyMap<string, ComponentConfig>,
  client: ComponentClient,
  store: Pick<ComponentStore, 'verifyTicket'>,
): CredentialKind {
  return {
    name: 'component_token',
    endpoint: 'api_component_token',
    fetch: async (app) => {
      const component = components.get(app.appId);
      if (!component) throw new WeChatError('component', null, `no component ${app.appId}`);
      const ticket = await store.verifyTicket(app.appId).catch((err: unknown) => {
        throw WeChatError.transport('component', 'verify ticket not readable from the store', err);
      });
      if (!ticket) {
        throw new WeChatError(
          'component',
          null,
          'no component_verify_ticket received yet: WeChat pushes one every 10 minutes to the events URL',
        );
      }
      const t = await client.componentToken(app.appId, component.secret, ticket.value);
      return { value: t.value, expiresInSeconds: t.expiresInSeconds, sentAt: t.sentAt };
    },
  };
}
