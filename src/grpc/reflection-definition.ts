import * as protoLoader from '@grpc/proto-loader';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { LOADER_OPTIONS, PROTO_FILES } from './proto.js';

/**
 * What server reflection serves: wxtoken's protos plus grpc.health.v1 (so `grpcurl list`
 * shows Health, as it does for servers in other languages), with each file descriptor naming
 * the files it imports.
 *
 * proto-loader regroups descriptors by package ("wxtoken_v1.proto", "google_protobuf.proto")
 * and leaves every `dependency` list empty (grpc/grpc-node#2595, #2958), so a client that
 * builds descriptors strictly (grpcurl, grpc_cli, Python's descriptor_pool) rejects
 * wxtoken.v1.Token: "google.protobuf.Timestamp ... is not imported". This links them: a file
 * depends on every other file that defines a type it references.
 */
export function reflectionDefinition(): protoLoader.PackageDefinition {
  const definition = protoLoader.loadSync([...PROTO_FILES, HEALTH_PROTO], LOADER_OPTIONS);
  const linked = new Map<Buffer, Buffer>();
  for (const entry of Object.values(definition)) {
    const files = entry.fileDescriptorProtos as Buffer[] | undefined;
    if (!Array.isArray(files)) continue;
    const parsed = files.map((bytes) => ({ bytes, ...scanFile(bytes) }));
    const owner = new Map<string, string>();
    for (const f of parsed) for (const s of f.defines) owner.set(s, f.name);
    entry.fileDescriptorProtos = files.map((bytes, i) => {
      const f = parsed[i]!;
      const deps = new Set(
        f.references.map((r) => resolve(r, owner)).filter((n) => n && n !== f.name),
      );
      const missing = [...deps].filter((d): d is string => !!d && !f.dependencies.has(d));
      if (missing.length === 0) return bytes;
      const cached = linked.get(bytes);
      if (cached) return cached;
      // Repeated field 3 (dependency), appended: protobuf parsers merge fields in any order.
      const out = Buffer.concat([bytes, ...missing.map((d) => stringField(3, d))]);
      linked.set(bytes, out);
      return out;
    });
  }
  return definition;
}

/** A type name as written (relative or '.'-qualified) and the scope it appears in. */
interface Reference {
  readonly name: string;
  readonly scope: string;
}

/** The file defining `ref`, resolved as protoc does: innermost enclosing scope first. */
function resolve(ref: Reference, owner: ReadonlyMap<string, string>): string | undefined {
  if (ref.name.startsWith('.')) return owner.get(ref.name);
  for (let scope = ref.scope; ; scope = scope.slice(0, scope.lastIndexOf('.'))) {
    const hit = owner.get(`${scope}.${ref.name}`);
    if (hit || scope === '') return hit;
  }
}

interface FileScan {
  name: string;
  dependencies: Set<string>;
  /** Fully qualified names of the messages and enums the file defines (leading '.'). */
  defines: Set<string>;
  /** Type names its fields and methods use, with the scope they are written in. */
  references: Reference[];
}

function scanFile(bytes: Buffer): FileScan {
  let scope = '';
  const scan: FileScan = {
    name: '',
    dependencies: new Set(),
    defines: new Set(),
    references: [],
  };
  for (const [field, value] of fields(bytes)) {
    if (field === 1) scan.name = value.toString();
    else if (field === 2) scope = `.${value.toString()}`;
  }
  for (const [field, value] of fields(bytes)) {
    if (field === 3) scan.dependencies.add(value.toString());
    else if (field === 4) scanMessage(value, scope, scan);
    else if (field === 5) scan.defines.add(`${scope}.${nameOf(value)}`);
    else if (field === 6) scanService(value, scope, scan);
    else if (field === 7) scanField(value, scope, scan);
  }
  return scan;
}

function scanMessage(bytes: Buffer, scope: string, scan: FileScan): void {
  const full = `${scope}.${nameOf(bytes)}`;
  scan.defines.add(full);
  for (const [field, value] of fields(bytes)) {
    if (field === 2 || field === 6)
      scanField(value, full, scan); // field, extension
    else if (field === 3)
      scanMessage(value, full, scan); // nested_type
    else if (field === 4) scan.defines.add(`${full}.${nameOf(value)}`); // enum_type
  }
}

function scanField(bytes: Buffer, scope: string, scan: FileScan): void {
  for (const [field, value] of fields(bytes)) {
    // extendee, type_name
    if (field === 2 || field === 6) scan.references.push({ name: value.toString(), scope });
  }
}

function scanService(bytes: Buffer, scope: string, scan: FileScan): void {
  for (const [field, method] of fields(bytes)) {
    if (field !== 2) continue;
    for (const [f, value] of fields(method)) {
      // input_type, output_type
      if (f === 2 || f === 3) scan.references.push({ name: value.toString(), scope });
    }
  }
}

function nameOf(bytes: Buffer): string {
  for (const [field, value] of fields(bytes)) if (field === 1) return value.toString();
  return '';
}

/** The length-delimited fields of a message; other wire types are skipped. */
function* fields(buf: Buffer): Generator<[number, Buffer]> {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
      shift += 7;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      yield [Math.floor(key / 8), buf.subarray(pos, pos + len)];
      pos += len;
    } else throw new Error(`unsupported wire type ${wire} in a file descriptor`);
  }
}

function stringField(field: number, value: string): Buffer {
  const data = Buffer.from(value);
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  return Buffer.from([...varint((field << 3) | 2), ...varint(data.length), ...data]);
}
