import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { MemoryAuditLog } from '../../src/audit/memory-audit-log.js';
import { tolerantDeserializers } from '../../src/grpc/call-boundary.js';
import { tokenHandlers } from '../../src/grpc/token-handlers.js';
import type { TicketService } from '../../src/service/ticket-service.js';
import type { TokenService } from '../../src/service/token-service.js';
import { createLogger } from '../../src/shared/logger.js';
import { AppDirectory } from '../../src/apps/app-directory.js';
import { toProtoToken } from '../../src/grpc/convert.js';
import { EncodedTokens } from '../../src/grpc/encoded-tokens.js';
import { loadProto } from '../../src/grpc/proto.js';
import { preEncoded, TOKEN_ENCODER } from '../../src/grpc/reply-encoding.js';
import { servableUntil } from '../../src/token/token.js';
import { APP_ID, coreHarness } from '../support/core-harness.js';

const generic = loadProto().wxtoken.v1.TokenService.service.GetToken;

/** A harness whose app can leave, with its scheduler running and a first token fetched. */
async function started() {
  const directory = new AppDirectory([]);
  const h = coreHarness({ directory });
  const leadership = new AbortController();
  const done = h.scheduler.run(leadership.signal);
  await h.clock.advance(0);
  const stop = async (): Promise<void> => {
    leadership.abort();
    await done;
  };
  return { h, directory, stop };
}

/** What GetToken sends from the encoded table, and what it sends from peek's record. */
function replies(h: ReturnType<typeof coreHarness>, encoded: EncodedTokens) {
  const ready = encoded.get(APP_ID);
  const live = h.service.peek(APP_ID);
  return {
    fast: ready && TOKEN_ENCODER.encode(ready),
    slow: live && TOKEN_ENCODER.encode(toProtoToken(live)),
  };
}

describe('EncodedTokens (GetToken replies encoded ahead, a mirror of the token cache)', () => {
  it('invariant 3: through 10 lifetimes it answers exactly what peek serves, byte for byte, and only while peek serves it', async () => {
    const { h, stop } = await started();
    const encoded = new EncodedTokens(h.service);
    let answered = 0;
    for (let step = 0; step < 10 * 72; step++) {
      await h.clock.advance(100_000);
      const { fast, slow } = replies(h, encoded);
      expect(fast, `step ${step}`).toEqual(slow);
      if (fast) answered++;
    }
    expect(answered).toBe(720);
    expect(h.wechat.tokenCalls).toBeGreaterThan(10);
    // The bytes are a Token message as the generic serializer reads it.
    const decoded = generic.responseDeserialize(replies(h, encoded).fast!) as {
      app_id: string;
      access_token: string;
    };
    expect(decoded.app_id).toBe(APP_ID);
    expect(decoded.access_token).toBe(h.service.peek(APP_ID)!.value);
    // Refreshing stopped: the reply goes exactly when peek stops serving the token.
    await stop();
    const last = h.service.peek(APP_ID)!;
    await h.clock.advance(servableUntil(last) - h.clock.now() - 1);
    expect(replies(h, encoded).fast).toBeDefined();
    await h.clock.advance(1);
    expect(replies(h, encoded)).toEqual({ fast: undefined, slow: undefined });
  });

  it('serves tokens cached before it was made, and nothing of an app that left', async () => {
    const { h, directory, stop } = await started();
    const encoded = new EncodedTokens(h.service);
    expect(encoded.size).toBe(1);
    expect(replies(h, encoded).fast).toBeDefined();
    directory.remove(APP_ID);
    expect(encoded.size).toBe(0);
    expect(encoded.get(APP_ID)).toBeUndefined();
    await stop();
  });

  it('a 512-character token (what WeChat reserves) is answered too; one too long for any slot is left to peek, never served stale', async () => {
    const { h, stop } = await started();
    const encoded = new EncodedTokens(h.service);
    const current = h.service.peek(APP_ID)!;
    h.cache.offer({ ...current, value: 'y'.repeat(512), generation: 98 });
    const { fast, slow } = replies(h, encoded);
    expect(fast).toBeDefined();
    expect(fast).toEqual(slow);
    h.cache.offer({ ...current, value: 'z'.repeat(1_100), generation: 99 });
    expect(h.service.peek(APP_ID)!.generation).toBe(99);
    expect(encoded.get(APP_ID)).toBeUndefined();
    await stop();
  });

  it('after close it follows the cache no more and answers nothing', async () => {
    const { h, stop } = await started();
    const encoded = new EncodedTokens(h.service);
    encoded.close();
    expect(encoded.get(APP_ID)).toBeUndefined();
    await stop();
  });
});

describe('GetToken over gRPC answers from the encoded replies first (a real loopback socket)', () => {
  it('a held reply goes out as its bytes; an app without one falls back to peek', async () => {
    const proto = loadProto().wxtoken.v1.TokenService;
    const tableBytes = TOKEN_ENCODER.encode({ app_id: 'wxtable', access_token: 'from-the-table' });
    const server = new grpc.Server();
    server.addService(
      tolerantDeserializers(proto.service, { GetToken: TOKEN_ENCODER }),
      tokenHandlers(
        {
          peek: (appId: string) => ({
            appId,
            value: 'from-peek',
            expiresAt: 2e12,
            fetchedAt: 1e12,
            generation: 1,
          }),
        } as unknown as TokenService,
        {} as TicketService,
        {
          log: createLogger({ level: 'silent' }),
          streams: { add: () => () => undefined },
          canUseApp: () => true,
          auditLog: new MemoryAuditLog(10),
          encodedTokens: {
            get: (appId) => (appId === 'wxtable' ? preEncoded(tableBytes) : undefined),
          },
        },
      ),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const client = new proto(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const get = (appId: string): Promise<{ access_token: string }> =>
      new Promise((resolve, reject) =>
        client.GetToken({ app_id: appId }, (err, reply) => (err ? reject(err) : resolve(reply!))),
      );
    try {
      expect((await get('wxtable')).access_token).toBe('from-the-table');
      expect((await get('wxother')).access_token).toBe('from-peek');
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
