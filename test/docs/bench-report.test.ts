import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';
import { renderReport, renderRow, type BenchRow } from '../../bench/report.js';
import { REPORT_WIDTH, wrapMarkdown } from '../../bench/wrap-markdown.js';

/**
 * Issue 17: `npm run bench -- --out docs/benchmarks.md` writes the figures into a doc whose lines
 * the docs test keeps within 120 characters, and which `npm run lint` checks with prettier. The
 * report writer used to emit one markdown table with rows of up to 300 characters.
 */
const DOC = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

const long = (n: number): string =>
  Array.from({ length: n }, (_, i) => `round ${i + 1}: ${(i * 1.37).toFixed(2)} ms`).join(', ');

/** Rows like the scenarios' widest ones, plus a context row, a missed target and a failed run. */
const ROWS: readonly BenchRow[] = [
  {
    scenario: 'hotpath',
    metric: 'on Redis (measured replica: follower): load generator',
    value: `python3-grpcio, 1 proc × 4 channels × 32 in flight, 0 errors; ${long(12)}`,
    target: 'not the bottleneck: saturates echo (≥ 90 % CPU), and wxtoken unless wxtoken ≥ echo',
    met: true,
  },
  { scenario: 'hotpath', metric: 'echo latency', value: 'p50 17.0 ms, p99 79.8 ms' },
  {
    scenario: 'scale 100k',
    metric: 'upstream mean, scheduled waves',
    value: '245.0 calls/s over 438.6 s',
    target: 'context (tokens live 600 s)',
  },
  {
    scenario: 'scale 100k',
    metric: 'serve RSS peak (startup and waves)',
    value: '1024 MB',
    target: '< 1024 MB',
    met: false,
  },
  { scenario: 'login', metric: 'run', value: `failed: Error: ${long(9)}`, met: false },
];

describe('bench report writer: lines of at most 120 characters (issue 17)', () => {
  const report = renderReport(ROWS);

  it('keeps every line within the width, a heading per scenario and one list item per row', () => {
    const lines = report.split('\n');
    expect(lines.filter((l) => [...l].length > REPORT_WIDTH)).toEqual([]);
    expect(lines.filter((l) => l.startsWith('### '))).toEqual([
      '### hotpath',
      '### scale 100k',
      '### login',
    ]);
    expect(lines.filter((l) => l.startsWith('- '))).toHaveLength(ROWS.length);
    // The widest row really was wrapped, onto continuation lines of its list item.
    expect(lines.filter((l) => l.startsWith('  ')).length).toBeGreaterThanOrEqual(2);
  });

  it('loses no text: each row, unwrapped, reads metric, value, target and mark', () => {
    const flat = report.replace(/\n {2}/g, ' ');
    for (const r of ROWS) expect(flat).toContain(`- ${renderRow(r)}`);
    expect(renderRow(ROWS[0]!)).toMatch(/ — target not the bottleneck: .* ≥ echo: met$/);
    expect(renderRow(ROWS[1]!)).toBe('echo latency: p50 17.0 ms, p99 79.8 ms');
    expect(renderRow(ROWS[2]!)).toBe(
      'upstream mean, scheduled waves: 245.0 calls/s over 438.6 s — context (tokens live 600 s)',
    );
    expect(renderRow(ROWS[3]!)).toBe(
      'serve RSS peak (startup and waves): 1024 MB — target < 1024 MB: **missed**',
    );
    expect(renderRow(ROWS[4]!)).toMatch(/^run: failed: .* — \*\*missed\*\*$/);
  });

  it('is what prettier would write in docs/benchmarks.md (lint passes on a fresh report)', async () => {
    const options = { ...(await resolveConfig(DOC)), filepath: DOC };
    const doc = `# Benchmark results\n\n## Figures\n\n${report}\n`;
    expect(await format(doc, options)).toBe(doc);
  });
});

describe('wrapMarkdown', () => {
  it('never starts a continuation line with a word that would open a list, heading or quote', () => {
    for (const word of ['-', '+', '*', '#', '1.', '12)', '>x', '===']) {
      for (let pad = 100; pad < 125; pad++) {
        const text = `${'x'.repeat(pad)} ${word} tail words after it`;
        const rest = wrapMarkdown(text, '- ', '  ').split('\n').slice(1);
        expect(rest.filter((l) => l.trimStart().startsWith(word))).toEqual([]);
      }
    }
  });

  it('wraps at exactly the width and leaves a word longer than the width whole', () => {
    const exact = `${'a'.repeat(59)} ${'b'.repeat(60)}`; // 120 characters: one line
    expect(wrapMarkdown(exact)).toBe(exact);
    expect(wrapMarkdown(`${exact}c`).split('\n')).toEqual(['a'.repeat(59), `${'b'.repeat(60)}c`]);
    const url = `https://example.com/${'p'.repeat(130)}`;
    expect(wrapMarkdown(`see ${url} here`, '- ', '  ').split('\n')).toEqual([
      '- see',
      `  ${url}`,
      '  here',
    ]);
  });
});
