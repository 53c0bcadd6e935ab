import * as grpc from '@grpc/grpc-js';
import type { LoginServiceClient } from '../grpc/generated/wxtoken/v1/LoginService.js';
import { loadProto } from '../grpc/proto.js';

export interface LatencyResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function quantiles(samples: number[]): LatencyResult {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { p50Ms: q(0.5), p99Ms: q(0.99) };
}

async function mintCode(simUrl: string, appId: string): Promise<string> {
  const res = await fetch(`${simUrl}/__sim/apps/${appId}/codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  return ((await res.json()) as { code: string }).code;
}

/**
 * Code2Session through wxtoken vs the same exchange straight against the simulator, one at a
 * time, each with a fresh code (minted outside the timed part): the latency wxtoken adds.
 */
export async function loginLatency(
  simUrl: string,
  addr: string,
  appId: string,
  secret: string,
  rounds: number,
): Promise<{ direct: LatencyResult; viaWxtoken: LatencyResult }> {
  const proto = loadProto();
  const client: LoginServiceClient = new proto.wxtoken.v1.LoginService(
    addr,
    grpc.credentials.createInsecure(),
  );
  const direct: number[] = [];
  const via: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const c1 = await mintCode(simUrl, appId);
    let t0 = performance.now();
    const qs = new URLSearchParams({
      appid: appId,
      secret,
      js_code: c1,
      grant_type: 'authorization_code',
    });
    await (await fetch(`${simUrl}/sns/jscode2session?${qs}`)).text();
    direct.push(performance.now() - t0);
    const c2 = await mintCode(simUrl, appId);
    t0 = performance.now();
    await new Promise<void>((resolve, reject) =>
      client.Code2Session({ app_id: appId, js_code: c2 }, (err) => (err ? reject(err) : resolve())),
    );
    via.push(performance.now() - t0);
  }
  client.close();
  return { direct: quantiles(direct.slice(10)), viaWxtoken: quantiles(via.slice(10)) };
}
