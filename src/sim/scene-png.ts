import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';

/** 16 × 16 modules of 4 px: a 64 × 64 image, a few hundred bytes. */
const MODULES = 16;
const MODULE_PX = 4;
const SIZE = MODULES * MODULE_PX;
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** CRC-32 (IEEE, reflected 0xEDB88320) as PNG chunks need it; zlib.crc32 is not in every Node 20. */
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A stand-in for a mini-program code: a valid 64 × 64 grayscale PNG whose 16 × 16 black and
 * white modules are the 256 bits of sha256(scene). The same scene always gives the same bytes,
 * and two scenes differ, so a test can tell which scene an image came from.
 */
export function scenePng(scene: string): Buffer {
  const bits = createHash('sha256').update(scene, 'utf8').digest();
  const rows: Buffer[] = [];
  for (let y = 0; y < SIZE; y++) {
    // Each row starts with its filter type: 0, none.
    const row = Buffer.alloc(1 + SIZE);
    for (let x = 0; x < SIZE; x++) {
      const module = Math.floor(y / MODULE_PX) * MODULES + Math.floor(x / MODULE_PX);
      const on = ((bits[module >> 3] ?? 0) >> (7 - (module & 7))) & 1;
      row[1 + x] = on ? 0x00 : 0xff;
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(SIZE, 0);
  header.writeUInt32BE(SIZE, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // colour type: grayscale
  // compression, filter and interlace methods: 0 (the only ones PNG defines), already zero
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
