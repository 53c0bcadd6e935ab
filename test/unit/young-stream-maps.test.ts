import type { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { keepStreamMapsYoung } from '../../src/grpc/young-stream-maps.js';

/**
 * The renewal of HTTP/2 sessions' stream maps (src/grpc/young-stream-maps.ts) on a real grpc-js
 * server over loopback. What it buys (less garbage promoted per call) is a benchmark figure;
 * these tests hold what it must not break: every call answered, a stream open across renewals
 * still served and cancellable, and a graceful shutdown that completes, which it would not if a
 * renewal lost a stream's entry (Node closes a session when its map of open streams is empty).
 */
const bytes = {
  requestSerialize: (b: Buffer): Buffer => b,
  requestDeserialize: (b: Buffer): Buffer => b,
  responseSerialize: (b: Buffer): Buffer => b,
  responseDeserialize: (b: Buffer): Buffer => b,
};
const SERVICE = {
  echo: { path: '/t.Echo/Echo', requestStream: false, responseStream: false, ...bytes },
  watch: { path: '/t.Echo/Watch', requestStream: false, responseStream: true, ...bytes },
} satisfies grpc.ServiceDefinition;

interface EchoClient extends grpc.Client {
  echo(req: Buffer, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): void;
  watch(req: Buffer): grpc.ClientReadableStream<Buffer>;
}
const EchoClient = grpc.makeGenericClientConstructor(SERVICE, 'Echo') as unknown as new (
  addr: string,
  creds: grpc.ChannelCredentials,
) => EchoClient;

let server: grpc.Server | undefined;
const watchers: grpc.ServerWritableStream<Buffer, Buffer>[] = [];

async function start(): Promise<{ server: grpc.Server; addr: string }> {
  server = new grpc.Server();
  server.addService(SERVICE, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request])),
    watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => watchers.push(call),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, addr: `127.0.0.1:${port}` };
}

function shutdown(s: grpc.Server, withinMs: number): Promise<'drained' | 'hung'> {
  return Promise.race([
    new Promise<'drained'>((resolve) => s.tryShutdown(() => resolve('drained'))),
    new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), withinMs).unref()),
  ]);
}

const echo = (c: EchoClient, i: number): Promise<string> =>
  new Promise((resolve, reject) =>
    c.echo(Buffer.from(String(i)), (err, res) => (err ? reject(err) : resolve(res!.toString()))),
  );

/** A renewing server with one watch stream open on it (the server's side in `watchers[0]`). */
async function openWatch() {
  const { server: s, addr } = await start();
  const renewal = keepStreamMapsYoung(s, 0)!;
  const client = new EchoClient(addr, grpc.credentials.createInsecure());
  const watch = client.watch(Buffer.from('w'));
  watch.on('error', () => undefined); // a cancellation surfaces as an error event too
  await expect.poll(() => watchers.length).toBe(1);
  return { s, renewal, client, watch };
}

afterEach(() => {
  watchers.length = 0;
  server?.forceShutdown();
  server = undefined;
});

describe('HTTP/2 stream map renewal', () => {
  it('renews on streams and answers every call; the server then drains and shuts down', async () => {
    const { server: s, addr } = await start();
    const renewal = keepStreamMapsYoung(s, 0); // every stream: the most renewals a session can see
    expect(renewal?.servers).toBe(1);
    const client = new EchoClient(addr, grpc.credentials.createInsecure());
    const calls = Array.from({ length: 400 }, (_, i) => i);
    const answers: string[] = [];
    // 16 in flight on one connection: renewals happen while other streams are open.
    for (let i = 0; i < calls.length; i += 16) {
      answers.push(...(await Promise.all(calls.slice(i, i + 16).map((n) => echo(client, n)))));
    }
    expect(answers).toEqual(calls.map((n) => `echo:${n}`));
    expect(renewal!.renewals()).toBe(calls.length);
    client.close();
    expect(await shutdown(s, 5_000)).toBe('drained');
  });

  it('a stream open across renewals is still served, ends, and is cancelled cleanly', async () => {
    const { s, renewal, client, watch } = await openWatch();
    const got: string[] = [];
    watch.on('data', (b: Buffer) => got.push(b.toString()));
    const ended = new Promise<grpc.StatusObject>((resolve) => watch.on('status', resolve));
    const before = renewal.renewals();
    for (let i = 0; i < 50; i++) await echo(client, i); // 50 renewals while the watch is open
    expect(renewal.renewals()).toBe(before + 50);
    watchers[0]!.write(Buffer.from('after renewals'));
    await expect.poll(() => got).toEqual(['after renewals']);
    watch.cancel();
    expect((await ended).code).toBe(grpc.status.CANCELLED);
    client.close();
    expect(await shutdown(s, 5_000)).toBe('drained');
  });

  it('a stream open across renewals is still ended when its connection is torn down', async () => {
    // Node destroys a session's streams from that map: a renewal that lost the open stream's
    // entry would leave the call open on the server for ever.
    const { s, renewal, client } = await openWatch();
    const cancelled = new Promise<'cancelled'>((resolve) =>
      watchers[0]!.on('cancelled', () => resolve('cancelled')),
    );
    for (let i = 0; i < 50; i++) await echo(client, i);
    expect(renewal.renewals()).toBeGreaterThanOrEqual(50);
    s.forceShutdown();
    const open = new Promise<'still open'>((resolve) =>
      setTimeout(() => resolve('still open'), 3_000).unref(),
    );
    expect(await Promise.race([cancelled, open])).toBe('cancelled');
    client.close();
  });

  it("renews the session's set of pending streams with its map, keeping what they hold", async () => {
    // Node also keeps a session's not-yet-ready streams in a Set for the connection's life (a
    // server's stream is added and removed again as it is made): it churns like the map, and
    // each of its tables held a call until a full collection. Both are replaced by copies.
    const { server: s, addr } = await start();
    keepStreamMapsYoung(s, 0);
    const sessions: object[] = [];
    const servers = (s as unknown as { http2Servers: Map<EventEmitter, unknown> }).http2Servers;
    [...servers.keys()][0]!.on('stream', (st: { session: object }) => sessions.push(st.session));
    const client = new EchoClient(addr, grpc.credentials.createInsecure());
    await echo(client, 1);
    const session = sessions[0] as Record<
      symbol,
      { streams: Map<unknown, unknown>; pendingStreams: Set<unknown> }
    >;
    const key = Object.getOwnPropertySymbols(session).find((k) => k.description === 'state')!;
    const before = { ...session[key]! };
    // Something pending across the renewal (a stand-in: a server's own streams leave the set
    // before the 'stream' event): the copy must still hold it.
    const pending = { close: () => undefined, destroy: () => undefined };
    before.pendingStreams.add(pending);
    await echo(client, 2);
    const after = session[key]!;
    expect(after.pendingStreams).not.toBe(before.pendingStreams);
    expect(after.pendingStreams.constructor).toBe(before.pendingStreams.constructor);
    expect([...after.pendingStreams]).toEqual([pending]);
    expect(after.streams).not.toBe(before.streams);
    after.pendingStreams.delete(pending);
    client.close();
    expect(await shutdown(s, 5_000)).toBe('drained');
  });

  it('renews a connection at most once per interval', async () => {
    const { server: s, addr } = await start();
    const renewal = keepStreamMapsYoung(s, 60_000)!;
    const client = new EchoClient(addr, grpc.credentials.createInsecure());
    for (let i = 0; i < 20; i++) await echo(client, i);
    expect(renewal.renewals()).toBe(1); // the connection's first stream, then not for 60 s
    client.close();
  });

  it('says once when a session does not hold its streams where expected, and serves on', async () => {
    const { server: s, addr } = await start();
    let missing = 0;
    const renewal = keepStreamMapsYoung(s, 0, () => missing++)!;
    // A stream whose session is not Node's (another Node release's shape), twice, handed to the
    // renewal's listener alone (the last one on grpc-js's HTTP/2 server; grpc-js's own would
    // reject such a stream).
    const servers = (s as unknown as { http2Servers: Map<EventEmitter, unknown> }).http2Servers;
    const ours = [...servers.keys()][0]!.listeners('stream').at(-1) as (stream: unknown) => void;
    ours({ session: {} });
    ours({ session: {} });
    expect(missing).toBe(1);
    expect(renewal.renewals()).toBe(0);
    const client = new EchoClient(addr, grpc.credentials.createInsecure());
    expect(await echo(client, 7)).toBe('echo:7');
    client.close();
  });

  it('does nothing where grpc-js does not look as expected', async () => {
    expect(keepStreamMapsYoung({} as grpc.Server)).toBeUndefined();
    // Not listening yet: no HTTP/2 server to watch.
    server = new grpc.Server();
    expect(keepStreamMapsYoung(server)).toBeUndefined();
  });
});
