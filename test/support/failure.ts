import type * as grpc from '@grpc/grpc-js';

/** Resolves with the gRPC error `p` rejects with; fails the test if it succeeds. */
export async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}
