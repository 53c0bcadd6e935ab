/** Query parameters, the first value of each. */
export type Query = Readonly<Record<string, string>>;

/** At most this many pairs of a query are read; the rest are ignored. */
export const MAX_QUERY_PARAMS = 64;

const EMPTY: Query = Object.freeze({});

/**
 * Reads a query string into its parameters: the first value of each (as URLSearchParams.get
 * gives it), decoded like a form ('+' is a space), a malformed escape kept as its raw text.
 * Hand-written because it runs on every token request, and an SDK sends the same query again
 * and again: the last one read is kept (one entry, so nothing grows with the callers).
 */
export class QueryReader {
  #last: { search: string; query: Query } = { search: '', query: EMPTY };

  read(search: string): Query {
    if (search === this.#last.search) return this.#last.query;
    const escaped = search.includes('%') || search.includes('+');
    const query: Record<string, string> = {};
    let start = 0;
    for (let n = 0; n < MAX_QUERY_PARAMS && start < search.length; n++) {
      let end = search.indexOf('&', start);
      if (end < 0) end = search.length;
      const eq = search.indexOf('=', start);
      const split = eq >= 0 && eq < end ? eq : end;
      const rawKey = search.slice(start, split);
      const key = escaped ? decodeFormPart(rawKey) : rawKey;
      if (key !== '' && !Object.hasOwn(query, key)) {
        const value = split < end ? search.slice(split + 1, end) : '';
        query[key] = escaped ? decodeFormPart(value) : value;
      }
      start = end + 1;
    }
    this.#last = { search, query: Object.freeze(query) };
    return this.#last.query;
  }
}

function decodeFormPart(part: string): string {
  if (!part.includes('%') && !part.includes('+')) return part;
  const spaced = part.replaceAll('+', ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}
