import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Pem, WxTokenClientOptions } from './options.js';

function pem(value: Pem | undefined): Buffer | null {
  if (value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  return value.trimStart().startsWith('-----BEGIN') ? Buffer.from(value) : readFileSync(value);
}

/** Plaintext, TLS with the system roots, or TLS/mTLS with the given PEMs. */
export function channelCredentials(tls: WxTokenClientOptions['tls']): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  if (tls === true) return grpc.credentials.createSsl();
  return grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
}

/** `authorization: Bearer <key>` on every call, plaintext or TLS alike (none without a key). */
export function bearerInterceptor(key: string): grpc.Interceptor {
  const value = `Bearer ${key}`;
  return (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, listener, start) {
        metadata.set('authorization', value);
        start(metadata, listener);
      },
    });
}
