import { describe, expect, it } from 'vitest';
import { ByteTable, MAX_KEY_CHARS, SLOT_SIZES } from '../../src/shared/byte-table.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const text = (b: Buffer | undefined): string | undefined => b?.toString('latin1');

/** A deterministic generator (mulberry32): the model test replays the same operations. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('ByteTable (the off-heap mirror GetToken answers from)', () => {
  it('answers a value strictly before its deadline and nothing from it on (invariant 3)', () => {
    const t = new ByteTable();
    expect(t.set('wxa', bytes('reply-a'), 1_000)).toBe(true);
    expect(text(t.getBefore('wxa', 999))).toBe('reply-a');
    expect(t.getBefore('wxa', 1_000)).toBeUndefined();
    expect(t.getBefore('wxa', Number.NaN)).toBeUndefined();
    expect(t.getBefore('wxb', 0)).toBeUndefined();
    // Past its deadline an entry is refused, not forgotten: it goes when set again or deleted,
    // and `get` reads it whatever its deadline.
    expect(t.size).toBe(1);
    expect(text(t.get('wxa'))).toBe('reply-a');
    expect(t.get('wxb')).toBeUndefined();
  });

  it('hands out copies: setting the key again never changes bytes already handed out', () => {
    const t = new ByteTable();
    t.set('wxa', bytes('first-value'), 10);
    const before = t.getBefore('wxa', 0)!;
    t.set('wxa', bytes('2nd'), 20);
    expect(text(before)).toBe('first-value');
    expect(text(t.getBefore('wxa', 15))).toBe('2nd');
    expect(t.size).toBe(1);
  });

  it('forgets a deleted key; its slot holds the next key', () => {
    const t = new ByteTable();
    t.set('wxa', bytes('a'.repeat(200)), 10);
    expect(t.delete('wxa')).toBe(true);
    expect(t.delete('wxa')).toBe(false);
    expect(t.getBefore('wxa', 0)).toBeUndefined();
    t.set('wxb', bytes('b'), 10);
    expect(text(t.getBefore('wxb', 0))).toBe('b');
    expect(t.size).toBe(1);
  });

  it('refuses what fits no slot, a non-ASCII or empty key, and then holds nothing for the key', () => {
    const t = new ByteTable();
    const key = 'wxlong';
    const room = SLOT_SIZES.at(-1)! - 11 - key.length;
    expect(t.fits(key.length, room)).toBe(true);
    expect(t.set(key, Buffer.alloc(room, 1), 10)).toBe(true);
    expect(t.getBefore(key, 0)).toEqual(Buffer.alloc(room, 1));
    // Too long now: the earlier value must not be served in its place.
    expect(t.set(key, Buffer.alloc(room + 1, 2), 10)).toBe(false);
    expect(t.getBefore(key, 0)).toBeUndefined();
    expect(t.set('x'.repeat(MAX_KEY_CHARS + 1), bytes('v'), 10)).toBe(false);
    expect(t.set('wxé', bytes('v'), 10)).toBe(false);
    expect(t.set('', bytes('v'), 10)).toBe(false);
    expect(t.size).toBe(0);
  });

  it('a value that outgrows the small slot moves to a large one and back, at every length around the edge', () => {
    const t = new ByteTable();
    const key = 'wxgrowing';
    const edge = SLOT_SIZES[0] - 11 - key.length;
    for (const length of [edge - 1, edge, edge + 1, 900, edge, edge + 1, 3]) {
      const value = Buffer.alloc(length, length % 251);
      expect(t.set(key, value, 10)).toBe(true);
      expect(t.getBefore(key, 0)).toEqual(value);
      expect(t.size).toBe(1);
    }
  });

  it('a key of MAX_KEY_CHARS fits, and keys that share a prefix or a length stay apart', () => {
    const t = new ByteTable();
    const long = 'k'.repeat(MAX_KEY_CHARS);
    t.set(long, bytes('long'), 10);
    t.set(long.slice(1), bytes('shorter'), 10);
    t.set(`${long.slice(1)}j`, bytes('other'), 10);
    expect(text(t.getBefore(long, 0))).toBe('long');
    expect(text(t.getBefore(long.slice(1), 0))).toBe('shorter');
    expect(text(t.getBefore(`${long.slice(1)}j`, 0))).toBe('other');
  });

  it('agrees with a Map through 60,000 random sets, deletes and reads (growth and deletion inside probe runs)', () => {
    const random = seeded(15);
    const t = new ByteTable();
    const model = new Map<string, { value: string; deadline: number }>();
    const keys = Array.from({ length: 5_000 }, (_, i) => `wx${i.toString(36)}`);
    for (let op = 0; op < 60_000; op++) {
      const key = keys[Math.floor(random() * keys.length)]!;
      const r = random();
      if (r < 0.5) {
        // Mostly small slots, some large ones: entries move between the two sizes.
        const long = random() < 0.2 ? 700 : 180;
        const value = `v${op}-${'x'.repeat(Math.floor(random() * long))}`;
        const deadline = Math.floor(random() * 100);
        expect(t.set(key, bytes(value), deadline)).toBe(true);
        model.set(key, { value, deadline });
      } else if (r < 0.75) {
        expect(t.delete(key)).toBe(model.delete(key));
      } else {
        const now = Math.floor(random() * 100);
        const held = model.get(key);
        expect(text(t.getBefore(key, now))).toBe(
          held && now < held.deadline ? held.value : undefined,
        );
      }
      expect(t.size).toBe(model.size);
    }
    // Every key once more, held or not.
    for (const key of keys) {
      const held = model.get(key);
      expect(text(t.getBefore(key, -1))).toBe(held?.value);
    }
  });

  it('holds 100,000 keys (the scale target) and finds each one', () => {
    const t = new ByteTable();
    for (let i = 0; i < 100_000; i++) t.set(`wxauthorizer${i}`, bytes(`token-${i}`), 1);
    expect(t.size).toBe(100_000);
    for (let i = 0; i < 100_000; i += 7) {
      expect(text(t.getBefore(`wxauthorizer${i}`, 0))).toBe(`token-${i}`);
    }
    expect(t.getBefore('wxauthorizer100000', 0)).toBeUndefined();
  });
  it('sweeps like a clock hand: deletes what isDead names, a bounded number of places a call, and loses nothing else', () => {
    const random = seeded(7);
    const t = new ByteTable([64, 128]);
    const model = new Map<string, { value: string; deadline: number }>();
    for (let i = 0; i < 3_000; i++) {
      const key = `wx${i.toString(36)}`;
      const value = `${i}`.repeat(1 + Math.floor(random() * 20));
      const deadline = Math.floor(random() * 100);
      expect(t.set(key, bytes(value), deadline)).toBe(true);
      model.set(key, { value, deadline });
    }
    // The index holds 8,192 places now (3,000 entries, at most half full).
    let now = 0;
    const looked: string[] = [];
    for (let call = 0; call < 4_000; call++) {
      if (call % 100 === 0) now += 10;
      const before = t.size;
      const deleted = t.sweep(8, (value, deadline) => {
        looked.push(text(value)!);
        return !(now < deadline);
      });
      // At most 8 places a call, each at most one entry.
      expect(looked.length).toBeLessThanOrEqual(8);
      expect(deleted).toBe(before - t.size);
      looked.length = 0;
      for (const [key, held] of model) if (!(now < held.deadline)) model.delete(key);
      // The model deletes on time, the table a round later at most: never what is still live.
      if (call % 50 === 0) {
        for (const [key, held] of model) expect(text(t.getBefore(key, -1))).toBe(held.value);
      }
    }
    // `now` reached 100 at call 900; 3,100 calls of 8 places since are more than a round of
    // 8,192 places and 3,000 deletions, so nothing is left.
    expect(now).toBe(400);
    expect(t.size).toBe(0);
    expect(model.size).toBe(0);
  });

  it('refuses slot sizes it cannot lay out', () => {
    expect(() => new ByteTable([32, 64])).toThrow(RangeError);
    expect(() => new ByteTable([96, 256])).toThrow(RangeError);
    expect(() => new ByteTable([256, 256])).toThrow(RangeError);
    expect(() => new ByteTable([64, 128]).fits(22, 128 - 11 - 22)).not.toThrow();
    const t = new ByteTable([64, 128]);
    expect(t.fits(22, 128 - 11 - 22)).toBe(true);
    expect(t.fits(22, 128 - 11 - 21)).toBe(false);
  });
});
