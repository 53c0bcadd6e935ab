/**
 * Issue 17: the benchmark report is read in terminals and in docs/benchmarks.md, whose lines the
 * docs test keeps within 120 characters. Prettier formats that file with `proseWrap: always` at
 * the same width, so the report is wrapped the way prettier would (greedy, at spaces): a report
 * written by `npm run bench -- --out` passes `prettier --check` as written.
 */
export const REPORT_WIDTH = 120;

/**
 * A word that would open a block (list item, heading, quote) if it began a continuation line:
 * markdown would then change the text's meaning, so it stays on the line of the word before it.
 */
const OPENS_BLOCK = /^(?:[-+*=]+|#{1,6}|\d{1,9}[.)]|>.*)$/;

/**
 * Wraps one paragraph or list item at `width` characters. `first` prefixes the first line
 * ("- " for a list item, "" for prose), `rest` the continuation lines ("  " under a list item).
 * A single word longer than the width (a URL) is left whole on its own line.
 */
export function wrapMarkdown(text: string, first = '', rest = '', width = REPORT_WIDTH): string {
  const units: string[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const last = units.length - 1;
    if (last >= 0 && OPENS_BLOCK.test(word)) units[last] = `${units[last]} ${word}`;
    else units.push(word);
  }
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const unit of units) {
    const joined = empty ? `${line}${unit}` : `${line} ${unit}`;
    if (empty || [...joined].length <= width) {
      line = joined;
      empty = false;
    } else {
      lines.push(line);
      line = `${rest}${unit}`;
    }
  }
  lines.push(line);
  return lines.join('\n');
}
