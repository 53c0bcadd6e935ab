import type { SimEndpoint, SimFault, SimFaultKind } from './types.js';

const DEFAULT_ENDPOINTS: readonly SimEndpoint[] = ['token', 'stable_token'];

interface Pending {
  kind: SimFaultKind;
  remaining: number;
  endpoints: readonly SimEndpoint[];
}

/** An app's injected faults, first in first out; each is consumed by the calls it matches. */
export class FaultQueue {
  #pending: Pending[] = [];

  add(fault: SimFault): void {
    this.#pending.push({
      kind: fault.kind,
      remaining: fault.count,
      endpoints: fault.endpoints ?? DEFAULT_ENDPOINTS,
    });
  }

  clear(): void {
    this.#pending = [];
  }

  /** The fault that answers this call, if any; consuming one use of it. */
  take(endpoint: SimEndpoint): SimFaultKind | undefined {
    const index = this.#pending.findIndex((f) => f.endpoints.includes(endpoint));
    const fault = this.#pending[index];
    if (!fault) return undefined;
    if (--fault.remaining === 0) this.#pending.splice(index, 1);
    return fault.kind;
  }
}
