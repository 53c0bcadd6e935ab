/** The typed arrays the per-app columns use (status book, due queue). */
export type Column = Uint8Array | Int32Array | Float64Array;

/** A copy of `column` with room for `length` entries (the new tail is zero). */
export function grown<T extends Column>(column: T, length: number): T {
  const copy = new (column.constructor as new (length: number) => T)(length);
  copy.set(column);
  return copy;
}
