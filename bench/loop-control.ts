import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * The control for event-loop stalls: an idle Node process beside the server under test,
 * timing its own event loop the way the server does (how late a timer armed every 20 ms
 * fires, src/metrics/event-loop-delay.ts). An idle process is scheduled at once whatever the
 * load, so a stall it sees too is the machine's (this shared VM can stop every process for
 * hundreds of ms: a CPU profile of the server then has no sample at all for that long), not
 * the server's.
 */
const CONTROL_SOURCE = `
let due = performance.now() + 20;
let max = 0;
const tick = () => {
  const now = performance.now();
  max = Math.max(max, now - due);
  due = now + 20;
  setTimeout(tick, 20);
};
setTimeout(tick, 20);
setInterval(() => {
  process.stdout.write(JSON.stringify({ at: Date.now(), maxMs: max }) + '\\n');
  max = 0;
}, 1000);
`;

export class LoopControl {
  readonly #proc: ChildProcess;
  /** The worst lateness of each second, stamped with the second's end (epoch ms). */
  readonly #seconds: { at: number; maxMs: number }[] = [];

  private constructor() {
    this.#proc = spawn(process.execPath, ['-e', CONTROL_SOURCE], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    createInterface({ input: this.#proc.stdout! }).on('line', (line) => {
      this.#seconds.push(JSON.parse(line) as { at: number; maxMs: number });
    });
  }

  static start(): LoopControl {
    return new LoopControl();
  }

  /** The worst lateness (ms) in the seconds that ended within [from, to] (epoch ms). */
  maxBetween(from: number, to: number): number {
    let max = 0;
    for (const s of this.#seconds) if (s.at > from && s.at <= to) max = Math.max(max, s.maxMs);
    return max;
  }

  stop(): void {
    this.#proc.kill('SIGKILL');
  }
}
