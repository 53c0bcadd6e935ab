import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenUnavailableError, WxTokenClient } from 'wxtoken-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getToken, tokenClient } from '../../src/cli/grpc-client.js';
import { freePort } from '../support/free-port.js';
import { type Spawned, startServeFile, startSimWithApp } from '../support/processes.js';

/**
 * wxtoken-client through a SIGKILL of a spawned `wxtoken serve` and its restart on the same
 * port (design.md "Client libraries": keeps serving a cached token until it expires while the
 * server is unreachable; invariant 3: never a token past its expires_at). The client's clock is
 * a fake one (real time, or an instant the test sets), so the token's two hours pass instantly.
 */
const APP = 'wxnoderestart001';
const SECRET = 'node-restart-secret-3c7a';
const MARGIN_MS = 60_000;

let sim: Spawned & { url: string };
let server: (Spawned & { addr: string }) | undefined;
let configPath: string;

beforeAll(async () => {
  sim = await startSimWithApp(APP, SECRET);
  const port = await freePort();
  configPath = join(mkdtempSync(join(tmpdir(), 'wxtoken-node-client-')), 'wxtoken.yaml');
  writeFileSync(
    configPath,
    `
grpc: { listen: "127.0.0.1:${port}" }
metrics: { listen: "" }
wechat: { baseUrl: "${sim.url}", timeoutMs: 2000 }
apps:
  - { appId: ${APP}, mode: classic, secretEnv: APP_SECRET }
`,
  );
  server = await startServeFile(configPath, { APP_SECRET: SECRET });
});

afterAll(async () => {
  await server?.stop('SIGKILL');
  await sim?.stop();
});

async function until(probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!probe()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('wxtoken-client through a server SIGKILL and restart', () => {
  it('serves the cached token until its expiry margin, then TokenUnavailableError; resumes the stream when the server is back', async () => {
    // The client's clock: real time, or a fixed instant (a skew computed from Date.now() went
    // stale by the time the client read it, past the margin on a loaded machine).
    let fixed: number | undefined;
    const client = new WxTokenClient({
      address: server!.addr,
      clock: { now: () => fixed ?? Date.now() },
      expiryMarginMs: MARGIN_MS,
      backoff: { initialMs: 20, maxMs: 200 },
      fallbackIntervalMs: 50,
    });
    try {
      // 1. Warm: the stream is up.
      const t1 = await client.token(APP);
      await until(() => client.status(APP)!.streaming);
      const expiresAt = client.status(APP)!.expiresAt!;
      const opened = client.status(APP)!.streamsOpened;

      // 2. SIGKILL: the stream ends; the cached token is still served, by token() and tokenSync().
      await server!.stop('SIGKILL');
      await until(() => !client.status(APP)!.streaming);
      for (let i = 0; i < 50; i++) {
        expect(await client.token(APP)).toBe(t1);
        expect(client.tokenSync(APP)).toBe(t1);
      }
      await until(() => client.status(APP)!.lastError?.codeName === 'UNAVAILABLE');
      await until(() => client.status(APP)!.streamsOpened > opened); // it keeps retrying

      // 3. Two hours later by the client's clock: served up to the margin, never past it.
      fixed = expiresAt - MARGIN_MS - 1;
      expect(await client.token(APP)).toBe(t1);
      fixed = expiresAt - MARGIN_MS;
      expect(client.tokenSync(APP)).toBeUndefined();
      const err = await client.token(APP).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenUnavailableError);
      const e = err as TokenUnavailableError;
      expect(e.codeName).toBe('UNAVAILABLE');
      expect(e.code).toBe(grpc.status.UNAVAILABLE);
      expect(e.cachedExpiresAt).toBe(expiresAt);
      expect(e.message).toMatch(/unreachable/);
      fixed = expiresAt + 1;
      await expect(client.withToken(APP, () => 'x')).rejects.toBeInstanceOf(TokenUnavailableError);

      // 4. Back to real time; the server restarts on the same port (embedded store: it fetches
      // a new token): the stream resumes by itself and delivers the server's current token.
      fixed = undefined;
      server = await startServeFile(configPath, { APP_SECRET: SECRET });
      await until(() => client.status(APP)!.streaming);
      const raw = tokenClient(server.addr);
      const current = (await getToken(raw, APP)).access_token;
      raw.close();
      expect(current).not.toBe(t1);
      await until(() => client.tokenSync(APP) === current);
      expect(await client.token(APP)).toBe(current);
      expect(client.status(APP)!.lastError).toBeNull();
    } finally {
      client.close();
    }
  });
});
