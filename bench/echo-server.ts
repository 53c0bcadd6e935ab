import * as grpc from '@grpc/grpc-js';
import { toProtoToken } from '../src/grpc/convert.js';
import { loadProto } from '../src/grpc/proto.js';
import { keepStreamMapsYoung } from '../src/grpc/young-stream-maps.js';

/**
 * The ceiling of the stack: a bare grpc-js server answering TokenService/GetToken with a
 * fixed token of the same size, no validation, no logging, no cache. Prints its port.
 * `--young-stream-maps`: with wxtoken's renewal of HTTP/2 stream maps (stream-maps.ts compares).
 */
const proto = loadProto();
const reply = toProtoToken({
  appId: 'wxbench000000001',
  value: '86_' + 'x'.repeat(133),
  expiresAt: Date.now() + 7_200_000,
  fetchedAt: Date.now(),
  generation: 1,
});
const server = new grpc.Server();
server.addService(proto.wxtoken.v1.TokenService.service, {
  GetToken: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, reply),
  ForceRefresh: (_c: unknown, cb: grpc.sendUnaryData<unknown>) =>
    cb({ code: grpc.status.UNIMPLEMENTED }),
  ListApps: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { apps: [] }),
  ListAuditEvents: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { events: [] }),
  WatchToken: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  if (process.argv.includes('--young-stream-maps') && !keepStreamMapsYoung(server)) {
    throw new Error('keepStreamMapsYoung found no HTTP/2 server to watch');
  }
  console.log(`echo listening on 127.0.0.1:${port}`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
