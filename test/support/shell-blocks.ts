/**
 * The shell command blocks of a Markdown document (fences tagged sh, bash or shell), for tests
 * that run the docs as written. A block preceded by `<!-- needs: WHAT -->` (the nearest non-blank
 * line above its fence) needs something the tests cannot have, such as a cluster; `needs` says
 * what, and the test decides whether it can run it.
 */
export interface ShellBlock {
  /** 1-based line of the opening fence, for messages. */
  readonly line: number;
  readonly code: string;
  readonly needs?: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*(\w*)\s*$/;
const NEEDS = /^\s*<!--\s*needs:\s*([\w-]+)\s*-->\s*$/;
const SHELLS = new Set(['sh', 'bash', 'shell']);

export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang] = open;
    const end = lines.findIndex((l, j) => j > i && l.trim() === fence);
    if (end < 0) throw new Error(`line ${i + 1}: a code fence that never closes`);
    if (SHELLS.has(lang!)) {
      let above = i - 1;
      while (above >= 0 && lines[above]!.trim() === '') above--;
      const needs = above >= 0 ? NEEDS.exec(lines[above]!)?.[1] : undefined;
      const code = lines
        .slice(i + 1, end)
        .map((l) => (l.startsWith(indent!) ? l.slice(indent!.length) : l))
        .join('\n');
      blocks.push({ line: i + 1, code, ...(needs ? { needs } : {}) });
    }
    i = end;
  }
  return blocks;
}
