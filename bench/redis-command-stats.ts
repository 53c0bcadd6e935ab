import type { Redis } from 'ioredis';

/**
 * Which commands Redis ran in a stretch of time (INFO commandstats), to show what a benchmark's
 * load sent to it and what went on in the background anyway.
 */
export interface CommandStats {
  readonly at: number;
  readonly byCommand: ReadonlyMap<string, number>;
}

export interface CommandWindow {
  readonly ms: number;
  readonly total: number;
  readonly byCommand: ReadonlyMap<string, number>;
}

/** Calls per command so far (INFO commandstats), our own INFO calls left out. */
export async function commandStats(redis: Redis): Promise<CommandStats> {
  const info = await redis.info('commandstats');
  const byCommand = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] !== 'info') byCommand.set(m[1]!, Number(m[2]));
  }
  return { at: Date.now(), byCommand };
}

export function commandsSince(before: CommandStats, after: CommandStats): CommandWindow {
  const byCommand = new Map<string, number>();
  for (const [name, n] of after.byCommand) {
    const d = n - (before.byCommand.get(name) ?? 0);
    if (d > 0) byCommand.set(name, d);
  }
  const total = [...byCommand.values()].reduce((a, b) => a + b, 0);
  return { ms: after.at - before.at, total, byCommand };
}
