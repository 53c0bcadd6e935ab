import { ByteTable } from '../shared/byte-table.js';
import { servableUntil, type TokenRecord } from '../token/token.js';
import type { TokenService } from '../service/token-service.js';
import { toProtoToken } from './convert.js';
import { preEncoded, TOKEN_ENCODER } from './reply-encoding.js';
import type { Token } from './generated/wxtoken/v1/Token.js';

/**
 * Every app's GetToken reply, encoded once when its token is applied and kept off the V8 heap
 * (ByteTable): a call copies one slot instead of reading a record and its fields at random
 * places of a large heap and encoding them (at 100,000 authorizers, by hand on the scale
 * benchmark's rig: 68.6 µs a call at random against 55.1 for one hot record; docs/benchmarks.md).
 *
 * A mirror of the token cache (TokenService.mirror): the same tokens, dropped with their app, and
 * a reply only while `peek` would serve its token (`servableUntil` against the service's clock).
 * Anything else (no token yet, past the margin, a reply too long for a slot) is not here and
 * GetToken takes the ordinary path, with its waits and errors.
 */
export class EncodedTokens {
  readonly #table = new ByteTable();
  readonly #stop: () => void;
  #closed = false;

  constructor(private readonly service: Pick<TokenService, 'mirror' | 'now'>) {
    this.#stop = service.mirror({
      applied: (token) => this.#applied(token),
      dropped: (appId) => this.#table.delete(appId),
    });
  }

  /** The encoded reply for `appId` if its token is servable now, or undefined. */
  get(appId: string): Token | undefined {
    if (this.#closed) return undefined;
    const bytes = this.#table.getBefore(appId, this.service.now());
    return bytes && preEncoded(bytes);
  }

  /** Apps whose reply is held. */
  get size(): number {
    return this.#table.size;
  }

  /** Stops following the cache; every read takes the ordinary path from then on. */
  close(): void {
    this.#closed = true;
    this.#stop();
  }

  #applied(token: TokenRecord): void {
    this.#table.set(token.appId, TOKEN_ENCODER.encode(toProtoToken(token)), servableUntil(token));
  }
}
