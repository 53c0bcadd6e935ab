import * as grpc from '@grpc/grpc-js';
import type { LoginServiceClient } from '../src/grpc/generated/wxtoken/v1/LoginService.js';
import { loadProto } from '../src/grpc/proto.js';

export interface LoginLatencyOptions {
  /** The simulator both paths end at, e.g. http://127.0.0.1:8090. */
  readonly simUrl: string;
  /** wxtoken's gRPC address (host:port). */
  readonly addr: string;
  readonly appId: string;
  readonly secret: string;
  /** Timed exchanges per path. */
  readonly rounds: number;
  /** Untimed exchanges per path first (JIT, connections, caches on both sides). */
  readonly warmup: number;
  /**
   * A second simulator, on the other core than `simUrl`'s: the direct exchange against it is
   * timed too, as a reference for what crossing cores costs the upstream hop.
   */
  readonly crossCoreSimUrl?: string;
}

/** Milliseconds per exchange, one entry per timed round. */
export interface LoginLatencySamples {
  readonly direct: readonly number[];
  readonly viaWxtoken: readonly number[];
  /** Direct exchanges against `crossCoreSimUrl`; empty without one. */
  readonly directCrossCore: readonly number[];
}

/**
 * Code2Session through wxtoken vs the same exchange straight against the simulator, one
 * exchange at a time, each with a fresh code minted outside the timed part: the latency
 * wxtoken adds. Both paths are warmed, long-lived, keep-alive clients, as a business server
 * would hold them (Node's fetch pools connections; a grpc-js channel keeps its HTTP/2
 * connection).
 */
export async function loginLatency(options: LoginLatencyOptions): Promise<LoginLatencySamples> {
  const { simUrl, addr, appId, secret } = options;
  const proto = loadProto();
  const client: LoginServiceClient = new proto.wxtoken.v1.LoginService(
    addr,
    grpc.credentials.createInsecure(),
  );
  const direct =
    (url: string) =>
    async (code: string): Promise<void> => {
      const qs = new URLSearchParams({
        appid: appId,
        secret,
        js_code: code,
        grant_type: 'authorization_code',
      });
      const body = (await (await fetch(`${url}/sns/jscode2session?${qs}`)).json()) as {
        openid?: string;
        errcode?: number;
      };
      if (!body.openid) throw new Error(`direct jscode2session failed: errcode ${body.errcode}`);
    };
  const via = (code: string): Promise<void> =>
    new Promise<void>((resolve, reject) =>
      client.Code2Session({ app_id: appId, js_code: code }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  const timed = async (url: string, call: (code: string) => Promise<void>): Promise<number> => {
    const code = await mintCode(url, appId);
    const t0 = performance.now();
    await call(code);
    return performance.now() - t0;
  };
  type Path = { url: string; call: (code: string) => Promise<void>; samples: number[] };
  const paths: Path[] = [
    { url: simUrl, call: direct(simUrl), samples: [] },
    { url: simUrl, call: via, samples: [] },
  ];
  const cross = options.crossCoreSimUrl;
  if (cross) paths.push({ url: cross, call: direct(cross), samples: [] });
  try {
    for (let i = 0; i < options.warmup + options.rounds; i++) {
      // Rotate the order, so no path always runs first or on the heels of another.
      for (let k = 0; k < paths.length; k++) {
        const path = paths[(i + k) % paths.length]!;
        const ms = await timed(path.url, path.call);
        if (i >= options.warmup) path.samples.push(ms);
      }
    }
  } finally {
    client.close();
  }
  return {
    direct: paths[0]!.samples,
    viaWxtoken: paths[1]!.samples,
    directCrossCore: paths[2]?.samples ?? [],
  };
}

async function mintCode(simUrl: string, appId: string): Promise<string> {
  const res = await fetch(`${simUrl}/__sim/apps/${appId}/codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  return ((await res.json()) as { code: string }).code;
}
