import { describe, expect, it } from 'vitest';
import { LineBatcher } from '../../src/shared/line-batcher.js';
import { FakeClock } from '../support/fake-clock.js';

/** Log batching (src/shared/line-batcher.ts): fewer writes under a burst, no delay otherwise. */
describe('LineBatcher', () => {
  const setup = (maxBytes = 16 * 1024) => {
    const writes: string[] = [];
    let synced = 0;
    const clock = new FakeClock();
    const sink = {
      write: (chunk: string) => (writes.push(chunk), true),
      flushSync: () => void synced++,
    };
    return {
      writes,
      clock,
      batcher: new LineBatcher(sink, clock, 25, maxBytes),
      synced: () => synced,
    };
  };

  it('a line after a quiet window is written at once', async () => {
    const { writes, clock, batcher } = setup();
    batcher.write('a\n');
    expect(writes).toEqual(['a\n']);
    await clock.advance(30);
    batcher.write('b\n');
    expect(writes).toEqual(['a\n', 'b\n']);
  });

  it('lines inside the window are joined into one write at its end, and batching goes on while they come', async () => {
    const { writes, clock, batcher } = setup();
    batcher.write('1\n');
    for (let i = 2; i <= 100; i++) batcher.write(`${i}\n`);
    expect(writes).toHaveLength(1);
    await clock.advance(25);
    expect(writes).toHaveLength(2);
    expect(writes[1]!.split('\n')).toHaveLength(100);
    batcher.write('101\n'); // the window reopened: this one waits
    expect(writes).toHaveLength(2);
    await clock.advance(25);
    expect(writes.at(-1)).toBe('101\n');
    await clock.advance(25); // nothing came: the next line goes at once
    batcher.write('102\n');
    expect(writes.at(-1)).toBe('102\n');
    expect(writes.join('')).toBe(Array.from({ length: 102 }, (_, i) => `${i + 1}\n`).join(''));
  });

  it('a window holds at most maxBytes: past it the lines go without waiting', () => {
    const { writes, batcher } = setup(100);
    batcher.write('first\n');
    for (let i = 0; i < 10; i++) batcher.write(`${'x'.repeat(19)}\n`); // 20 bytes each
    expect(writes).toHaveLength(3); // the first line, then two full batches of 5
    expect(writes[1]).toHaveLength(100);
  });

  it('flushSync writes what waits, then syncs the sink (process exit)', () => {
    const { writes, batcher, synced } = setup();
    batcher.write('a\n');
    batcher.write('b\n');
    batcher.flushSync();
    expect(writes).toEqual(['a\n', 'b\n']);
    expect(synced()).toBe(1);
  });
});
