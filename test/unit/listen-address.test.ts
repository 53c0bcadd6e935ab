import { describe, expect, it } from 'vitest';
import { isLoopbackListen } from '../../src/cli/listen-address.js';

// The safe default (no callers → loopback only) must not be fooled by a DNS name (issue 11 §4).
describe('isLoopbackListen', () => {
  it.each([
    ['127.0.0.1:50051', true],
    ['127.1.2.3:50051', true],
    ['localhost:50051', true],
    ['[::1]:50051', true],
    ['127.evil.example:50051', false],
    ['127.0.0.1.nip.io:50051', false],
    ['0.0.0.0:50051', false],
    ['[::]:50051', false],
    ['10.0.0.5:50051', false],
    ['128.0.0.1:50051', false],
    // The same loopback addresses written otherwise are still loopback.
    ['[0:0:0:0:0:0:0:1]:50051', true],
    ['[::ffff:127.0.0.1]:50051', true],
    ['LocalHost:50051', true],
    ['[::ffff:10.0.0.1]:50051', false],
    ['localhost.example:50051', false],
    ['127.0.0.1.:50051', false],
  ])('%s → %s', (listen, loopback) => {
    expect(isLoopbackListen(listen)).toBe(loopback);
  });
});
