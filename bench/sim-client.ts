import type { SimCall, SimCheckResult, SimCounters } from '../src/sim/types.js';

/**
 * The simulator as the cluster benchmarks see it from outside: its control API (`/__sim/`:
 * apps, counters, call log, rotations, token checks) and timed direct calls to its WeChat
 * endpoints, for the round trips the herd's latency target is built from.
 */
export class SimClient {
  constructor(readonly url: string) {}

  async #control<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/__sim/${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`simulator ${method} /__sim/${path}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  configureApp(settings: {
    appId: string;
    secret: string;
    expiresInSeconds: number;
    overlapSeconds: number;
    dailyQuota?: number;
  }): Promise<unknown> {
    return this.#control('POST', 'apps', settings);
  }

  counters(appId: string): Promise<SimCounters> {
    return this.#control('GET', `apps/${encodeURIComponent(appId)}/counters`);
  }

  /** The call log of `appId` from `since` (simulator clock ms, the same host clock as ours). */
  async calls(appId: string, since = 0): Promise<SimCall[]> {
    const q = `appId=${encodeURIComponent(appId)}&since=${since}`;
    return (await this.#control<{ calls: SimCall[] }>('GET', `calls?${q}`)).calls;
  }

  /** Another system re-fetches the token; `endOverlap` kills the previous one at once. */
  rotate(appId: string, endOverlap: boolean): Promise<{ access_token: string }> {
    return this.#control('POST', `apps/${encodeURIComponent(appId)}/rotate`, { endOverlap });
  }

  /** The simulator's verdict on a token right now (not counted, not logged). */
  check(accessToken: string): Promise<SimCheckResult> {
    return this.#control('POST', 'check', { access_token: accessToken });
  }

  /** Milliseconds of one get_api_domain_ip call (the validity check wxtoken makes). */
  async timeCheck(accessToken: string): Promise<number> {
    const t0 = performance.now();
    const res = await fetch(
      `${this.url}/cgi-bin/get_api_domain_ip?access_token=${encodeURIComponent(accessToken)}`,
    );
    await res.text();
    return performance.now() - t0;
  }

  /** Milliseconds of one /cgi-bin/token call, and the token it minted. */
  async timeFetch(appId: string, secret: string): Promise<{ ms: number; token: string }> {
    const q = new URLSearchParams({ grant_type: 'client_credential', appid: appId, secret });
    const t0 = performance.now();
    const res = await fetch(`${this.url}/cgi-bin/token?${q.toString()}`);
    const body = (await res.json()) as { access_token?: string; errcode?: number };
    const ms = performance.now() - t0;
    if (!body.access_token) throw new Error(`simulator token call failed: ${body.errcode}`);
    return { ms, token: body.access_token };
  }
}
