import type { SimCall, SimCheckResult, SimCounters } from '../../src/sim/types.js';

/**
 * A client of the simulator's control API (/__sim/), as business teams would use it; the
 * benchmarks (bench/) drive the simulator through it too.
 */
export class SimControl {
  constructor(readonly url: string) {}

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`sim ${method} ${path}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  configureApp(settings: Record<string, unknown>): Promise<unknown> {
    return this.#call('POST', '/__sim/apps', settings);
  }

  counters(appId: string): Promise<SimCounters> {
    return this.#call('GET', `/__sim/apps/${encodeURIComponent(appId)}/counters`);
  }

  /** The call log of `appId` from `since` (simulator clock ms, the host clock). */
  async calls(appId: string, since = 0): Promise<SimCall[]> {
    const r = await this.#call<{ calls: SimCall[] }>(
      'GET',
      `/__sim/calls?appId=${encodeURIComponent(appId)}&since=${since}`,
    );
    return r.calls;
  }

  fault(
    appId: string,
    fault: { kind: string; count: number; endpoints?: string[] },
  ): Promise<unknown> {
    return this.#call('POST', `/__sim/apps/${encodeURIComponent(appId)}/faults`, fault);
  }

  rotate(appId: string, endOverlap = false): Promise<{ access_token: string; expires_in: number }> {
    return this.#call('POST', `/__sim/apps/${encodeURIComponent(appId)}/rotate`, { endOverlap });
  }

  /** The simulator's verdict on a token right now (not counted, not logged). */
  check(accessToken: string): Promise<SimCheckResult> {
    return this.#call('POST', '/__sim/check', { access_token: accessToken });
  }
}
