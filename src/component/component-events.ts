import type { Clock } from '../shared/clock.js';
import { parseEventXml } from '../wechat/event-xml.js';
import { MessageCrypto, type EncryptedMessage } from '../wechat/message-crypto.js';
import type { ComponentClient } from '../wechat/component-api.js';
import type { ComponentTokens } from './authorizer-tokens.js';
import type { ComponentRegistry } from './component-registry.js';
import type { ComponentStore } from './component-store.js';

/** Why an event POST was refused: kept for the log line, never told to the sender. */
export class EventRefusedError extends Error {
  override readonly name = 'EventRefusedError';
  constructor(readonly reason: string) {
    super(`event refused: ${reason}`);
  }
}

export type EventOutcome =
  | 'component_verify_ticket'
  | 'authorized'
  | 'updateauthorized'
  | 'unauthorized'
  | 'replayed'
  | 'ignored';

export interface ComponentEventsDeps {
  readonly registry: ComponentRegistry;
  readonly store: Pick<ComponentStore, 'offerVerifyTicket'>;
  readonly client: Pick<ComponentClient, 'queryAuth'>;
  readonly tokens: Pick<ComponentTokens, 'live'>;
  /** A new verify ticket was stored (CreateTime in seconds): the component token may be fetched now. */
  readonly onVerifyTicket: (componentAppId: string, createTime: number) => void;
  readonly clock: Clock;
}

/** Messages remembered to answer a replay without acting twice (5 min of pushes is few). */
const MAX_SEEN = 10_000;
const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Longest authorization code accepted from an event. */
const MAX_CODE_CHARS = 512;

/**
 * What WeChat's event URL receives for a third-party platform (授权事件接收URL). Every message
 * is verified and decrypted (MessageCrypto: signature, replay window, padding, appid) before
 * anything is read from it; a message seen already (same signature, inside the window) is
 * answered without acting again, since WeChat retries a push it thinks failed.
 */
export class ComponentEvents {
  readonly #crypto = new Map<string, MessageCrypto>();
  /** Signatures of messages handled, oldest first, with when they stop mattering. */
  readonly #seen = new Map<string, number>();

  constructor(private readonly deps: ComponentEventsDeps) {
    for (const c of deps.registry.components.values()) {
      this.#crypto.set(
        c.componentAppId,
        new MessageCrypto({
          componentAppId: c.componentAppId,
          messageToken: c.messageToken.reveal(),
          encodingAesKey: c.encodingAesKey.reveal(),
        }),
      );
    }
  }

  /** True when `componentAppId` is a configured platform (the route answers 404 otherwise). */
  has(componentAppId: string): boolean {
    return this.#crypto.has(componentAppId);
  }

  /**
   * Verifies, decrypts and acts on one event. Throws EventRefusedError for anything that is
   * not a genuine, fresh message of this platform (nothing is stored then); WeChat errors from
   * api_query_auth propagate (the route answers 5xx so WeChat pushes again).
   */
  async handle(componentAppId: string, message: EncryptedMessage): Promise<EventOutcome> {
    const crypto = this.#crypto.get(componentAppId);
    if (!crypto) throw new EventRefusedError('unknown component');
    const now = this.deps.clock.now();
    let fields: Record<string, string>;
    try {
      fields = parseEventXml(crypto.verifyAndDecrypt(message, now));
    } catch (err) {
      const reason = (err as { reason?: unknown }).reason;
      throw new EventRefusedError(typeof reason === 'string' ? reason : 'malformed');
    }
    if (fields.AppId !== undefined && fields.AppId !== componentAppId) {
      throw new EventRefusedError('appid_mismatch');
    }
    const key = `${componentAppId}:${message.msgSignature}`;
    this.#forgetOld(now);
    if (this.#seen.has(key)) return 'replayed';
    const outcome = await this.#act(componentAppId, fields);
    this.#seen.set(key, now + 10 * 60 * 1000);
    return outcome;
  }

  async #act(componentAppId: string, f: Record<string, string>): Promise<EventOutcome> {
    switch (f.InfoType) {
      case 'component_verify_ticket': {
        const value = f.ComponentVerifyTicket ?? '';
        const createTime = Number(f.CreateTime);
        if (!value || value.length > 2048 || !Number.isSafeInteger(createTime)) {
          throw new EventRefusedError('malformed verify ticket');
        }
        if (await this.deps.store.offerVerifyTicket(componentAppId, { value, createTime })) {
          this.deps.onVerifyTicket(componentAppId, createTime);
        }
        return 'component_verify_ticket';
      }
      case 'authorized':
      case 'updateauthorized': {
        const authorizerAppId = f.AuthorizerAppid ?? '';
        const code = f.AuthorizationCode ?? '';
        if (!APP_ID.test(authorizerAppId) || !code || code.length > MAX_CODE_CHARS) {
          throw new EventRefusedError('malformed authorization');
        }
        const token = await this.deps.tokens.live(componentAppId);
        const info = await this.deps.client.queryAuth(token.value, componentAppId, code);
        if (info.authorizerAppId !== authorizerAppId) {
          throw new EventRefusedError('authorization code names another authorizer');
        }
        const at = Number(f.CreateTime);
        await this.deps.registry.join(
          componentAppId,
          {
            authorizerAppId,
            authorizedAt: Number.isSafeInteger(at) ? at * 1000 : this.deps.clock.now(),
          },
          info.refreshToken,
        );
        return f.InfoType;
      }
      case 'unauthorized': {
        const authorizerAppId = f.AuthorizerAppid ?? '';
        if (!APP_ID.test(authorizerAppId)) throw new EventRefusedError('malformed unauthorization');
        await this.deps.registry.leave(componentAppId, authorizerAppId);
        return 'unauthorized';
      }
      default:
        // Other InfoTypes (e.g. notify_third_fasteregister) are acknowledged, not acted on.
        return 'ignored';
    }
  }

  #forgetOld(now: number): void {
    for (const [key, until] of this.#seen) {
      if (until > now && this.#seen.size <= MAX_SEEN) break;
      this.#seen.delete(key);
    }
  }
}
