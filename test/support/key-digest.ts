import { createHash } from 'node:crypto';

/** A caller key's SHA-256 in hex: what a config's `keySha256` holds (tests write keys in clear). */
export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
