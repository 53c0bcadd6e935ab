/**
 * Why a call got no answer, in words an operator can act on: grpc-js reports every failed
 * connection as UNAVAILABLE "No connection established. Last error: <transport text>.
 * Resolution note: ", whether nothing listens, the name does not resolve or TLS is set up wrong.
 * Telling those apart matters: "start the server" is the wrong advice for a running server
 * whose certificate the CLI does not trust.
 */

interface Seen {
  /** Whether this CLI call used TLS. */
  readonly tls: boolean;
  /** The host dialled (what the server certificate must name, without --server-name). */
  readonly host: string;
  /** The transport text. */
  readonly raw: string;
}

interface Cause {
  readonly test: RegExp;
  /** What to tell the operator. */
  readonly say: (seen: Seen) => string;
}

const TLS_FLAGS = 'pass --tls with --ca FILE, or WXTOKEN_TLS=1 with WXTOKEN_TLS_CA';

// Order matters: the TLS alerts and verification errors come before the generic socket ones.
const CAUSES: readonly Cause[] = [
  {
    test: /ECONNREFUSED/,
    say: () =>
      'nothing is listening there. Start it (wxtoken serve --config FILE) or point --addr ' +
      '(or WXTOKEN_ADDR) at a running replica.',
  },
  {
    test: /Name resolution failed|ENOTFOUND|EAI_AGAIN/,
    say: () => 'the host name does not resolve: check --addr (or WXTOKEN_ADDR).',
  },
  {
    // The server's alert: it wants a client certificate (TLS 1.3 "certificate required", 116).
    test: /alert certificate required|alert handshake failure/,
    say: () =>
      'the server requires a client certificate (mutual TLS): pass --cert FILE and ' +
      '--cert-key FILE (or WXTOKEN_TLS_CERT and WXTOKEN_TLS_CERT_KEY).',
  },
  {
    // The server refused the client certificate it was given (unknown CA, bad or expired one).
    test: /alert (unknown ca|bad certificate|certificate (expired|revoked|unknown)|access denied)/,
    say: () =>
      'the server refused the client certificate: --cert must be signed by a CA in its ' +
      'tls.clientCaFile, unexpired, and name a configured caller.',
  },
  {
    test: /ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/,
    say: ({ host }) =>
      `the server's certificate does not name ${host}: pass --server-name NAME (or ` +
      'WXTOKEN_TLS_SERVER_NAME) with a name the certificate holds.',
  },
  {
    test: /unable to verify|self[- ]signed certificate|unable to get (local )?issuer|certificate has expired|certificate is not yet valid|CERT_/,
    // Keep Node's reason: it says which check failed (issuer, expiry...).
    say: ({ raw }) =>
      `the server's certificate is not trusted (${certReason(raw)}): pass --ca FILE (or ` +
      'WXTOKEN_TLS_CA) with the CA that signed it.',
  },
  {
    // A TLS client reading a plaintext HTTP/2 server's first bytes.
    test: /wrong version number|packet length too long|record layer failure|socket disconnected before secure TLS/,
    say: () =>
      'the server did not answer TLS: it may be plaintext (drop --tls, --ca, --cert and ' +
      'WXTOKEN_TLS*) or not wxtoken.',
  },
  {
    // The server dropped the connection: a TLS server does that to a plaintext client, and a
    // mutual-TLS server to a client certificate it does not trust (reset or closed, racily).
    test: /ECONNRESET|Failed to connect|Connection dropped|ECONNABORTED|EPIPE/,
    say: ({ tls }) =>
      tls
        ? 'the server closed the connection during the TLS handshake: under mutual TLS, --cert ' +
          'must be signed by a CA in its tls.clientCaFile.'
        : `the server closed the connection before gRPC started: it may require TLS (${TLS_FLAGS}).`,
  },
];

/** grpc-js's transport text without its empty "Resolution note:" tail. */
export function transportText(details: string): string {
  return details.replace(/\.?\s*Resolution note:\s*$/, '').trim();
}

/**
 * `cannot reach wxtoken at ADDR: <cause and what to do>` for an UNAVAILABLE call; the transport
 * text itself when it matches no known cause.
 */
export function explainUnreachable(details: string, addr: string, tls: boolean): string {
  const raw = transportText(details);
  const host = addr.slice(0, addr.lastIndexOf(':')).replace(/^\[|\]$/g, '') || addr;
  const cause = CAUSES.find((c) => c.test.test(raw));
  return `cannot reach wxtoken at ${addr}: ${cause ? cause.say({ tls, host, raw }) : `UNAVAILABLE: ${raw}`}`;
}

/** "unable to verify the first certificate" out of "... Last error: Error: unable to verify ...". */
function certReason(raw: string): string {
  return /Last error: (?:Error(?: \[\w+\])?: )?([^.(\n]+)/.exec(raw)?.[1]?.trim() ?? raw;
}
