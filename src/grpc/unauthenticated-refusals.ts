import type { Logger } from '../shared/logger.js';

/** One log line per peer host per this window; the rest are counted in it. */
const LOG_WINDOW_MS = 10_000;
/** Peers remembered at once; past it the oldest is forgotten (it then logs once more). */
const MAX_PEERS = 1024;

export interface UnauthenticatedRefusalsDeps {
  readonly log: Logger;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  readonly onRefused?: (method: string) => void;
}

/**
 * Calls refused before anyone was authenticated. They stay out of the capped audit trail (150
 * such calls in 218 ms used to replace every real event with attacker-chosen app ids and
 * reasons) and out of the per-call log: each is counted, and each peer host gets at most one
 * log line per window saying how many it sent.
 */
export class UnauthenticatedRefusals {
  readonly #peers = new Map<string, { since: number; suppressed: number }>();

  constructor(private readonly deps: UnauthenticatedRefusalsDeps) {}

  note(method: string, peer: string | undefined, details: string): void {
    this.deps.onRefused?.(method);
    const host = peerHost(peer ?? 'unknown');
    const now = this.deps.now();
    const seen = this.#peers.get(host);
    if (seen && now - seen.since < LOG_WINDOW_MS) {
      seen.suppressed++;
      return;
    }
    this.#peers.delete(host);
    if (this.#peers.size >= MAX_PEERS) this.#peers.delete(this.#peers.keys().next().value!);
    this.#peers.set(host, { since: now, suppressed: 0 });
    this.deps.log.warn(
      {
        method,
        code: 'UNAUTHENTICATED',
        peer: host,
        details,
        // Refusals from this peer in the window before this line that were not logged.
        suppressedBefore: seen?.suppressed ?? 0,
      },
      'rpc refused: unauthenticated',
    );
  }
}

/** "ipv4:127.0.0.1:5000", "[::1]:5000", "127.0.0.1:5000" → the host part (ports vary per call). */
export function peerHost(peer: string): string {
  return peer.replace(/^ipv[46]:/, '').replace(/:\d+$/, '');
}
