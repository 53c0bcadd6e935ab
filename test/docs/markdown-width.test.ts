import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * Issue 17: the README had 57 lines over 150 characters (table rows up to 477), unreadable in a
 * terminal. README.md and docs/*.md keep every line, code blocks and tables included, within 120
 * characters; only a line that is a bare URL may be longer. docs/benchmarks.md included: its
 * figures are written by the bench report writer, which wraps at the same width
 * (test/docs/bench-report.test.ts).
 */
const ROOT = new URL('../../', import.meta.url);
const WIDTH = 120;

const files = [
  'README.md',
  ...readdirSync(new URL('docs/', ROOT))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

describe(`README.md and docs/*.md lines are at most ${WIDTH} characters (issue 17)`, () => {
  it.each(files)('%s', (file) => {
    const wide = readFileSync(new URL(file, ROOT), 'utf8')
      .split('\n')
      .map((line, i) => ({ line: i + 1, length: [...line].length, text: line }))
      .filter((l) => l.length > WIDTH && !/^\s*<?https?:\/\/\S+>?$/.test(l.text));
    expect(wide.map((l) => `${file}:${l.line} (${l.length})`)).toEqual([]);
  });
});
