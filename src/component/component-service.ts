import type { Clock } from '../shared/clock.js';
import { InvalidArgumentError } from '../shared/errors.js';
import type { AppStatusBook, AppState } from '../refresher/app-status-book.js';
import type { TokenRecord } from '../token/token.js';
import type { TokenCache } from '../token/token-cache.js';
import type { ComponentClient } from '../wechat/component-api.js';
import { isTokenInvalid } from '../wechat/wechat-error.js';
import type { ComponentTokens } from './authorizer-tokens.js';
import type { ComponentRegistry } from './component-registry.js';

export interface AuthorizerView {
  readonly authorizerAppId: string;
  readonly authorizedAt: number;
  readonly state: AppState;
  /** Expiry of the authorizer's current access_token (ms), if it has one. */
  readonly expiresAt?: number;
}

export interface ComponentServiceDeps {
  readonly clock: Clock;
  readonly registry: ComponentRegistry;
  readonly client: Pick<ComponentClient, 'createPreAuthCode' | 'authorizerList'>;
  readonly tokens: ComponentTokens;
  /** The access_token engine's view of authorizers (they are apps like any other). */
  readonly authorizerTokens: { readonly cache: TokenCache; readonly status: AppStatusBook };
  readonly log: (level: 'info' | 'warn', obj: object, msg: string) => void;
}

/** ListAuthorizers' page size when none is asked for, and the most one page may hold. */
export const DEFAULT_AUTHORIZER_PAGE = 100;
export const MAX_AUTHORIZER_PAGE = 1000;
/** Pages RecoverAuthorizers reads at most (500 each): 10 million authorizers. */
const MAX_RECOVER_PAGES = 20_000;
/** Authorizers stored at once while recovering. */
const RECOVER_CONCURRENCY = 64;

/**
 * ComponentService: what a third-party platform's own code asks of the central server. The
 * pre-auth code starts a customer's authorization; ListAuthorizers shows who authorized
 * (never a token); RecoverAuthorizers is the way back after a lost store: WeChat's
 * api_get_authorizer_list returns every authorizer's current refresh token, 500 a page.
 */
export class ComponentService {
  readonly #recovering = new Map<string, Promise<number>>();

  constructor(private readonly deps: ComponentServiceDeps) {}

  async createPreAuthCode(
    componentAppId: string,
  ): Promise<{ preAuthCode: string; expiresAt: number }> {
    this.deps.registry.component(componentAppId);
    const code = await this.#withComponentToken(componentAppId, (token) =>
      this.deps.client.createPreAuthCode(token, componentAppId),
    );
    return { preAuthCode: code.value, expiresAt: code.sentAt + code.expiresInSeconds * 1000 };
  }

  async componentToken(componentAppId: string): Promise<TokenRecord> {
    this.deps.registry.component(componentAppId);
    return this.deps.tokens.live(componentAppId);
  }

  /** One page in appid order; `pageToken` is the last appid of the previous page (opaque). */
  listAuthorizers(
    componentAppId: string,
    pageSize: number,
    pageToken: string,
  ): { authorizers: AuthorizerView[]; nextPageToken: string } {
    if (!Number.isInteger(pageSize) || pageSize < 0) {
      throw new InvalidArgumentError('page_size', 'must be a non-negative integer');
    }
    if (pageSize > MAX_AUTHORIZER_PAGE) {
      throw new InvalidArgumentError('page_size', `must be at most ${MAX_AUTHORIZER_PAGE}`);
    }
    const after = decodePageToken(pageToken);
    const size = pageSize === 0 ? DEFAULT_AUTHORIZER_PAGE : pageSize;
    const entries = this.deps.registry.page(componentAppId, after, size + 1);
    const page = entries.slice(0, size);
    const now = this.deps.clock.now();
    const { cache, status } = this.deps.authorizerTokens;
    const authorizers = page.map((e): AuthorizerView => {
      const token = cache.get(e.authorizerAppId);
      const view = status.view(e.authorizerAppId, token, now);
      return {
        authorizerAppId: e.authorizerAppId,
        authorizedAt: e.authorizedAt,
        state: view.state,
        ...(token ? { expiresAt: token.expiresAt } : {}),
      };
    });
    const last = page.at(-1);
    return {
      authorizers,
      nextPageToken:
        entries.length > size && last
          ? Buffer.from(last.authorizerAppId).toString('base64url')
          : '',
    };
  }

  /**
   * Re-reads every authorizer and its current refresh token from WeChat and stores them; one
   * run per platform at a time (a second call joins the first). Resolves with how many
   * authorizers WeChat listed.
   */
  recoverAuthorizers(componentAppId: string): Promise<number> {
    this.deps.registry.component(componentAppId);
    const running = this.#recovering.get(componentAppId);
    if (running) return running;
    const run = this.#recover(componentAppId).finally(() =>
      this.#recovering.delete(componentAppId),
    );
    this.#recovering.set(componentAppId, run);
    return run;
  }

  async #recover(componentAppId: string): Promise<number> {
    let recovered = 0;
    for (let page = 0, offset = 0; page < MAX_RECOVER_PAGES; page++) {
      const { totalCount, list } = await this.#withComponentToken(componentAppId, (token) =>
        this.deps.client.authorizerList(token, componentAppId, offset),
      );
      for (let i = 0; i < list.length; i += RECOVER_CONCURRENCY) {
        await Promise.all(
          list
            .slice(i, i + RECOVER_CONCURRENCY)
            .map((e) =>
              this.deps.registry.join(
                componentAppId,
                { authorizerAppId: e.authorizerAppId, authorizedAt: e.authTime * 1000 },
                e.refreshToken,
              ),
            ),
        );
      }
      recovered += list.length;
      offset += list.length;
      if (list.length === 0 || offset >= totalCount) break;
    }
    this.deps.log('info', { componentAppId, recovered }, 'authorizers recovered from WeChat');
    return recovered;
  }

  /** Runs `call` with the live component token; a token WeChat rejects is recovered once. */
  async #withComponentToken<T>(componentAppId: string, call: (token: string) => Promise<T>) {
    const token = await this.deps.tokens.live(componentAppId);
    try {
      return await call(token.value);
    } catch (err) {
      if (!isTokenInvalid(err)) throw err;
      const recovered = await this.deps.tokens.recover(componentAppId, token);
      if (recovered.value === token.value) throw err;
      return call(recovered.value);
    }
  }
}

function decodePageToken(pageToken: string): string {
  if (pageToken === '') return '';
  const after = Buffer.from(pageToken, 'base64url').toString('utf8');
  if (
    !/^[A-Za-z0-9_-]{1,64}$/.test(after) ||
    Buffer.from(after).toString('base64url') !== pageToken
  ) {
    throw new InvalidArgumentError('page_token', 'is not a token this server gave out');
  }
  return after;
}
