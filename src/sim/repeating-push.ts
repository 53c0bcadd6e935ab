import type { Clock, TimerHandle } from '../shared/clock.js';

/**
 * Runs `push` now and then every `intervalMs` on the clock, as WeChat pushes verify tickets
 * every 10 minutes. A push still in flight when the next falls due is not started again (that
 * tick is `onSkip`ped), so a slow receiver never has two pushes of one timer at once and the
 * pushes waiting on it stay bounded at one. `push` must not throw.
 */
export class RepeatingPush {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #push: () => Promise<unknown>;
  readonly #onSkip: () => void;
  #timer: TimerHandle | undefined;
  #inFlight = false;
  #stopped = false;

  constructor(clock: Clock, intervalMs: number, push: () => Promise<unknown>, onSkip: () => void) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#push = push;
    this.#onSkip = onSkip;
  }

  /** The first push goes out at once. */
  start(): void {
    this.#tick();
  }

  /** No further push starts; one in flight finishes (or is aborted by its own signal). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#intervalMs);
    // The simulator's server keeps a process alive; a timer alone must not.
    this.#timer.unref?.();
    if (this.#inFlight) {
      this.#onSkip();
      return;
    }
    this.#inFlight = true;
    void this.#push().finally(() => {
      this.#inFlight = false;
    });
  }
}
