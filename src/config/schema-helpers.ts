import { isIPv6 } from 'node:net';
import * as z from 'zod';

/** The value checks several sections share: numbers, durations, sections, addresses, URLs. */

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const positive = () => z.number().positive();
export const positiveInt = () => z.number().int().positive();

/**
 * Node's timers overflow above 2^31-1 ms (about 24.8 days) and fire after 1 ms instead: a
 * `wechat.timeoutMs: 3000000000` made every call time out at once. Every duration is bounded.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
export const durationMs = () =>
  positive().max(MAX_TIMER_MS, `at most ${MAX_TIMER_MS} ms (Node timers overflow above it)`);
export const durationSeconds = () =>
  positive().max(
    Math.floor(MAX_TIMER_MS / 1000),
    `at most ${Math.floor(MAX_TIMER_MS / 1000)} s (Node timers overflow above it)`,
  );

/** An absent or empty (`key:` with nothing under it) section means "all defaults". */
export function section<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.preprocess((v) => v ?? {}, z.strictObject(shape));
}

/** `host:port`, IPv6 hosts in brackets; port 0 picks a free one. */
export function listenAddressProblem(value: string): string | undefined {
  const match = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(value);
  if (!match) return `expected host:port (IPv6 as [::1]:port), got ${JSON.stringify(value)}`;
  const host = match[1] ?? '';
  const port = Number(match[2]);
  if (host.startsWith('[')) {
    if (!isIPv6(host.slice(1, -1))) return `${JSON.stringify(host)} is not an IPv6 address`;
  } else if (!/^[A-Za-z0-9.-]+$/.test(host)) {
    return `expected host:port with a non-empty host name or IP, got ${JSON.stringify(value)}`;
  }
  if (port > 65535) return `port ${port} is out of range 0..65535`;
  return undefined;
}

export function listenAddress(opts: { allowEmpty: boolean }) {
  return z.string().superRefine((value, ctx) => {
    if (opts.allowEmpty && value === '') return;
    const problem = listenAddressProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
  });
}

/** http(s) URL without query, fragment or credentials; one trailing slash is stripped. */
export const baseUrl = z.string().transform((value, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  // Never echo the value: a URL may carry credentials.
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    ctx.issues.push({ code: 'custom', message: 'expected an http:// or https:// URL', input: '' });
    return z.NEVER;
  }
  if (url.search || url.hash || url.username || url.password || value.includes('?')) {
    ctx.issues.push({
      code: 'custom',
      message: 'expected a base URL without query, fragment or credentials',
      input: '',
    });
    return z.NEVER;
  }
  return value.endsWith('/') ? value.slice(0, -1) : value;
});

/**
 * WeChat appids are case-insensitive: two spellings of one id in a list would mean two
 * fetchers. Reports every later spelling under `<index>.<key>`, naming the first.
 */
export function rejectDuplicateIds<T>(
  items: readonly T[],
  ctx: z.core.$RefinementCtx,
  key: string,
  list: string,
  idOf: (item: T) => string,
): void {
  const firstIndex = new Map<string, number>();
  items.forEach((item, i) => {
    const id = idOf(item).toLowerCase();
    const first = firstIndex.get(id);
    if (first === undefined) firstIndex.set(id, i);
    else
      ctx.addIssue({
        code: 'custom',
        message: `duplicate ${key} ${JSON.stringify(idOf(item))} (also ${list}[${first}].${key})`,
        input: undefined,
        path: [i, key],
      });
  });
}
