import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as ComponentProto } from './generated/component.js';
import type { ProtoGrpcType as LoginProto } from './generated/login.js';
import type { ProtoGrpcType as TokenProto } from './generated/token.js';

export type ProtoGrpcType = TokenProto & LoginProto & ComponentProto;

/** proto/ at the package root, from both src/grpc and dist/grpc. */
export const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));
export const PROTO_FILES = [
  'wxtoken/v1/token.proto',
  'wxtoken/v1/login.proto',
  'wxtoken/v1/component.proto',
];

/** Options shared by the server, the CLI client and tests: int64 as strings, enums as names. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export function loadPackageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);
}

export function loadProto(definition = loadPackageDefinition()): ProtoGrpcType {
  return grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
}
