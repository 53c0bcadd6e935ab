import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as ComponentProto } from './generated/component.js';
import type { ProtoGrpcType as LoginProto } from './generated/login.js';
import type { ProtoGrpcType as TokenProto } from './generated/token.js';

export type ProtoGrpcType = TokenProto & LoginProto & ComponentProto;

/**
 * The proto files bundled with the package (copied into proto/ by `npm run build`), found from
 * dist/ where the compiled module lives.
 */
function protoDir(): string {
  const bundled = fileURLToPath(new URL('../proto', import.meta.url));
  if (existsSync(bundled)) return bundled;
  throw new Error(`wxtoken-client: ${bundled} is missing (the package build copies proto/ there)`);
}

let loaded: ProtoGrpcType | undefined;

/** Loaded once per process: int64 as strings, enums as names, the server's own loader options. */
export function loadProto(): ProtoGrpcType {
  loaded ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(
      ['wxtoken/v1/token.proto', 'wxtoken/v1/login.proto', 'wxtoken/v1/component.proto'],
      {
        keepCase: true,
        longs: String,
        enums: String,
        defaults: true,
        oneofs: true,
        includeDirs: [protoDir()],
      },
    ),
  ) as unknown as ProtoGrpcType;
  return loaded;
}
