import type { Timestamp__Output } from './generated/google/protobuf/Timestamp.js';

/** A google.protobuf.Timestamp (seconds as a string, see the loader's `longs: String`) in ms. */
export function timestampMs(ts: Timestamp__Output | null | undefined): number | null {
  if (!ts) return null;
  const seconds = Number(ts.seconds);
  if (!Number.isFinite(seconds)) return null;
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}
