import { EventEmitter } from 'node:events';
import type { ServerHttp2Stream } from 'node:http2';
import { types } from 'node:util';
import type * as grpc from '@grpc/grpc-js';

/**
 * Keeps each HTTP/2 session's collections of streams young, so that a finished call's objects
 * die in the young generation instead of being promoted.
 *
 * Node's HTTP/2 session keeps its open streams in one `Map` for the connection's life: a stream
 * is set at its start and deleted at its end. The map (and its hash table) soon lives in the old
 * generation. V8 grows or shrinks a `Map` by copying it into a new table and leaving the old one
 * pointing at the new one and at the entries it held (for iterators still walking it). An old
 * table's pointers into the young generation hold everything they reach through every young
 * collection until the next full one, dead or not; each new table they hold is then promoted and
 * holds the next. So once one table is old, every stream the connection carries, and the whole
 * call hanging off it (grpc-js's call, metadata, buffers, closures), is copied into the old
 * generation and left there for a major collection. On the `stream-maps` benchmark
 * (bare grpc-js servers, Node 20; docs/benchmarks.md) that is 4.2 KB promoted per GetToken; with
 * the session's map replaced by a fresh copy every few milliseconds, 0.6 KB, a fifth of the young
 * collections' time and of the major collections, and 0.73 times the CPU per call. The session's
 * `Set` of pending streams (each server stream is added and removed again as it is made) churns
 * the same way: a new table per stream, every one of them kept until a full collection (~0.1 KB a
 * call on `wxtoken serve`, V8's sampling heap profiler); it is replaced along with the map.
 *
 * Both are Node's own (`session[kState].streams` and `.pendingStreams`, read afresh at each use,
 * never held across a turn of the event loop), reached through grpc-js's listening HTTP/2
 * servers: internals, so each step checks the shape it expects and, where it differs (another
 * Node or grpc-js), does nothing: calls are served as before, only with the garbage promoted.
 */

/** When the session's map was last replaced (`performance.now()`), on the session itself. */
const RENEWED_AT = Symbol('wxtoken.streamMapRenewedAt');

/**
 * A fresh copy at most this often per connection: well below the time between two young
 * collections under load (~60 ms at 7,000 calls/s), so no map lives through two of them while
 * streams come and go. A copy holds only the open streams (tens), so it costs little.
 */
export const RENEW_EVERY_MS = 10;

export interface StreamMapRenewal {
  /** The HTTP/2 servers watched (one per listening address). */
  readonly servers: number;
  /** Maps replaced so far (tests and diagnostics). */
  renewals(): number;
}

interface StreamsHolder {
  streams: Map<unknown, unknown>;
  pendingStreams?: Set<unknown>;
}

let stateKey: symbol | undefined;

/** The object holding `session`'s map of open streams, when Node's internals look as expected. */
function streamsHolder(session: object): StreamsHolder | undefined {
  const bag = session as Record<symbol, unknown>;
  const keys = stateKey ? [stateKey] : Object.getOwnPropertySymbols(session);
  for (const key of keys) {
    if (key.description !== 'state') continue;
    const state = bag[key];
    // Node's internal maps are real maps whose prototype is not Map.prototype (`instanceof`
    // says no): util.types asks V8.
    if (typeof state === 'object' && state !== null && 'streams' in state) {
      if (types.isMap(state.streams)) {
        stateKey = key;
        return state as StreamsHolder;
      }
    }
  }
  return undefined;
}

/**
 * Watches the HTTP/2 servers `server` listens with (call after `bindAsync`): on a stream, the
 * stream's session gets a fresh copy of its map of open streams if its current one is older than
 * `everyMs`. Undefined when grpc-js keeps its servers elsewhere than this code expects;
 * `onMissing` runs once if a session does not hold its streams where this code expects.
 */
export function keepStreamMapsYoung(
  server: grpc.Server,
  everyMs = RENEW_EVERY_MS,
  onMissing?: () => void,
): StreamMapRenewal | undefined {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) return undefined;
  // grpc-js's own 'stream' listener marks the HTTP/2 servers it answers calls on.
  const watched = [...http2Servers.keys()].filter(
    (s): s is EventEmitter => s instanceof EventEmitter && s.listenerCount('stream') > 0,
  );
  if (watched.length === 0) return undefined;
  let renewals = 0;
  let missing = false;
  const onStream = (stream: ServerHttp2Stream): void => {
    const session = stream.session as (object & Record<symbol, number | undefined>) | undefined;
    if (!session) return;
    const now = performance.now();
    const at = session[RENEWED_AT];
    if (at !== undefined && now - at < everyMs) return;
    session[RENEWED_AT] = now;
    const holder = streamsHolder(session);
    if (!holder) {
      if (!missing) onMissing?.();
      missing = true;
      return;
    }
    const Fresh = holder.streams.constructor as MapConstructor;
    holder.streams = new Fresh(holder.streams);
    if (types.isSet(holder.pendingStreams)) {
      const FreshSet = holder.pendingStreams.constructor as SetConstructor;
      holder.pendingStreams = new FreshSet(holder.pendingStreams);
    }
    renewals++;
  };
  for (const s of watched) s.on('stream', onStream);
  return { servers: watched.length, renewals: () => renewals };
}
