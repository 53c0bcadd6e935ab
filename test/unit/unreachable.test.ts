import { describe, expect, it } from 'vitest';
import { explainUnreachable } from '../../src/cli/unreachable.js';

// Invariant 9 (clear answers) for the operator: grpc-js's transport texts, as seen on Node 20,
// mapped to a cause and a flag. test/e2e/cli-diagnosis.test.ts produces the common ones for real;
// this table pins the rarer texts (other TLS versions, expired certificates) and the fallback.
const wrap = (last: string): string =>
  `No connection established. Last error: ${last} (2026-12-04T03:56:05.603Z). Resolution note: `;

describe('explainUnreachable', () => {
  it.each([
    [wrap('Error: connect ECONNREFUSED 127.0.0.1:1'), false, /nothing is listening there/],
    ['Name resolution failed for target dns:x.invalid:1', false, /does not resolve: check --addr/],
    [wrap('Error: getaddrinfo EAI_AGAIN wxtoken'), false, /does not resolve/],
    [
      wrap('Error: certificate has expired'),
      true,
      /not trusted \(certificate has expired\): pass --ca/,
    ],
    [wrap('Error: self-signed certificate'), true, /not trusted \(self-signed certificate\)/],
    [wrap('Error: unable to get local issuer certificate'), true, /not trusted .*--ca FILE/],
    [
      wrap(
        "Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames: IP: 10.0.0.7 is not in the cert's list: ",
      ),
      true,
      /does not name 127\.0\.0\.1: pass --server-name/,
    ],
    [
      wrap('C0:error:0A00010B:SSL routines:ssl3_get_record:wrong version number'),
      true,
      /did not answer TLS/,
    ],
    [
      wrap('Client network socket disconnected before secure TLS connection was established'),
      true,
      /did not answer TLS/,
    ],
    [
      wrap(
        'C0:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:SSL alert number 48',
      ),
      true,
      /refused the client certificate: --cert must be signed/,
    ],
    [
      wrap('C0:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required'),
      true,
      /requires a client certificate \(mutual TLS\): pass --cert FILE/,
    ],
    [wrap('read ECONNRESET'), true, /during the TLS handshake: under mutual TLS/],
    [wrap('Failed to connect'), false, /it may require TLS \(pass --tls with --ca FILE/],
    [
      wrap('Error: something new'),
      false,
      /: UNAVAILABLE: No connection established\. Last error: Error: something new/,
    ],
  ])('%s (tls %s)', (details, tls, says) => {
    const msg = explainUnreachable(details, '127.0.0.1:50051', tls);
    expect(msg).toMatch(/^cannot reach wxtoken at 127\.0\.0\.1:50051: /);
    expect(msg).toMatch(says);
    expect(msg).not.toMatch(/Resolution note/);
  });

  it('names an IPv6 host without brackets', () => {
    expect(
      explainUnreachable(wrap('Error [ERR_TLS_CERT_ALTNAME_INVALID]: x'), '[::1]:50051', true),
    ).toMatch(/does not name ::1:/);
  });
});
