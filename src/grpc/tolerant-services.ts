import type * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError } from '../shared/errors.js';
import { MALFORMED_REQUEST, tolerantDeserializers } from './call-boundary.js';
import { toStatus } from './error-mapper.js';

/** The part of a gRPC server that a library's `addToServer(server)` uses. */
export interface ServiceRegistrar {
  addService(
    service: grpc.ServiceDefinition,
    implementation: grpc.UntypedServiceImplementation,
  ): void;
}

/** A library service that registers itself (grpc-health-check, @grpc/reflection). */
export interface SelfRegisteringService {
  addToServer(server: ServiceRegistrar): void;
}

/**
 * Registers a library's service so that a request that is not valid protobuf gets
 * INVALID_ARGUMENT naming the method (invariant 9) instead of grpc-js's hard-coded INTERNAL
 * "Error deserializing request", without forking the library: the library registers through
 * an adapter whose addService swaps in tolerant deserializers (a malformed message becomes
 * MALFORMED_REQUEST) and wraps each handler so the library never sees that value.
 */
export function addTolerantly(server: ServiceRegistrar, service: SelfRegisteringService): void {
  service.addToServer({
    addService: (definition, implementation) =>
      server.addService(
        tolerantDeserializers(definition),
        guardedImplementation(definition, implementation),
      ),
  });
}

type StatusReply = Pick<grpc.StatusObject, 'code' | 'details' | 'metadata'>;
type AnyRequestStream = grpc.ServerReadableStream<unknown, unknown>;

function guardedImplementation(
  definition: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
): grpc.UntypedServiceImplementation {
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    // grpc-js looks a handler up by method name, then by its original (lowerCamel) name;
    // without one it answers UNIMPLEMENTED, so a method left out stays left out.
    const handler = implementation[name] ?? implementation[method.originalName ?? ''];
    if (handler) guarded[name] = guard(method, handler.bind(implementation));
  }
  return guarded;
}

/**
 * How grpc-js (1.14, server.js handle*) delivers a request and sends a status per call type:
 * - unary: the request is `call.request`; an error passed to the callback becomes the status.
 * - server streaming: the request is `call.request`; an 'error' event on the call sets the
 *   pending status and ends the call, which sends it (server-call.js).
 * - client/bidi streaming: each message arrives through `stream.push(message)`; a malformed one
 *   ends the call the same way, and neither it nor anything after it reaches the library.
 */
function guard(
  method: grpc.MethodDefinition<unknown, unknown>,
  handler: grpc.UntypedHandleCall,
): grpc.UntypedHandleCall {
  const refusal = (): StatusReply => {
    const { code, details, metadata } = toStatus(
      new InvalidArgumentError('request', `is not a valid protobuf message for ${method.path}`),
    );
    return { code, details, metadata };
  };
  if (method.requestStream) {
    return (stream: AnyRequestStream, ...rest: unknown[]): void => {
      refuseMalformedMessages(stream, refusal);
      (handler as (...args: unknown[]) => void)(stream, ...rest);
    };
  }
  if (method.responseStream) {
    return (call: grpc.ServerWritableStream<unknown, unknown>): void => {
      if (call.request === MALFORMED_REQUEST) call.emit('error', refusal());
      else (handler as grpc.handleServerStreamingCall<unknown, unknown>)(call);
    };
  }
  return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    if (call.request === MALFORMED_REQUEST) callback(refusal());
    else (handler as grpc.handleUnaryCall<unknown, unknown>)(call, callback);
  };
}

/**
 * Intercepts the stream's incoming messages: the first malformed one ends the call with
 * INVALID_ARGUMENT; it and later ones (the half-close included) are dropped, so the library
 * neither handles them nor ends the call a second time. Not pushing also stops further reads.
 */
function refuseMalformedMessages(stream: AnyRequestStream, refusal: () => StatusReply): void {
  const push = stream.push.bind(stream);
  let refused = false;
  stream.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (refused) return false;
    if (chunk !== MALFORMED_REQUEST) return push(chunk, encoding);
    refused = true;
    stream.emit('error', refusal());
    return false;
  };
}
