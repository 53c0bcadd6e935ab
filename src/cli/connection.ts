import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';

/** What the on-call commands and `wxtoken health` need to reach a replica. */
export interface Connection {
  readonly addr: string;
  /** The bearer key, if any (from --key-file, WXTOKEN_KEY_FILE, --key or WXTOKEN_KEY). */
  readonly key?: string;
  /** Whether the channel speaks TLS (for error messages: what to check). */
  readonly tls: boolean;
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
}

export interface ConnectionFlags {
  addr: string;
  key?: string;
  keyFile?: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  certKey?: string;
  serverName?: string;
}

/**
 * The connection flags every client command shares. Each also reads the environment, so a
 * container's HEALTHCHECK works against a TLS server without arguments (WXTOKEN_TLS=1 ...).
 * A key on the command line shows in `ps`: scripts should use --key-file or WXTOKEN_KEY_FILE.
 */
export function addConnectionOptions(command: Command, defaultAddr: string): Command {
  return command
    .option('--addr <host:port>', 'wxtoken gRPC address (or WXTOKEN_ADDR)', defaultAddr)
    .option('--key <key>', 'caller key (or WXTOKEN_KEY); visible in ps: prefer --key-file')
    .option('--key-file <file>', 'file holding the caller key (or WXTOKEN_KEY_FILE)')
    .option('--tls', 'connect with TLS (or WXTOKEN_TLS=1); implied by --ca/--cert')
    .option('--ca <file>', "PEM CA of the server's certificate (or WXTOKEN_TLS_CA)")
    .option('--cert <file>', 'client certificate for mutual TLS (or WXTOKEN_TLS_CERT)')
    .option('--cert-key <file>', "the client certificate's key (or WXTOKEN_TLS_CERT_KEY)")
    .option(
      '--server-name <name>',
      'name to verify in the server certificate (or WXTOKEN_TLS_SERVER_NAME)',
    );
}

/** Resolves flags and environment into a connection; throws an Error naming the flag on bad input. */
export function resolveConnection(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  warn: (message: string) => void = (m) => console.error(m),
): Connection {
  const keyFile = flags.keyFile ?? env.WXTOKEN_KEY_FILE;
  const key = keyFile ? read(keyFile, '--key-file').trim() : (flags.key ?? env.WXTOKEN_KEY);
  if (flags.key !== undefined && !keyFile) {
    // Still accepted (scripts use it), but the argument list is world-readable (/proc/PID/cmdline).
    warn(
      'warning: --key shows in `ps` to every user of this machine: use --key-file FILE or ' +
        'WXTOKEN_KEY_FILE (or WXTOKEN_KEY)',
    );
  }
  const ca = flags.ca ?? env.WXTOKEN_TLS_CA;
  const cert = flags.cert ?? env.WXTOKEN_TLS_CERT;
  const certKey = flags.certKey ?? env.WXTOKEN_TLS_CERT_KEY;
  const serverName = flags.serverName ?? env.WXTOKEN_TLS_SERVER_NAME;
  const tls = Boolean(flags.tls) || env.WXTOKEN_TLS === '1' || Boolean(ca ?? cert);
  if ((cert === undefined) !== (certKey === undefined)) {
    throw new Error('--cert and --cert-key go together (mutual TLS needs both)');
  }
  if (tls) quietIpServerNameWarning();
  const credentials = tls
    ? grpc.credentials.createSsl(
        ca ? Buffer.from(read(ca, '--ca')) : null,
        certKey ? Buffer.from(read(certKey, '--cert-key')) : null,
        cert ? Buffer.from(read(cert, '--cert')) : null,
      )
    : grpc.credentials.createInsecure();
  const options: grpc.ChannelOptions = serverName
    ? { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName }
    : {};
  return { addr: flags.addr, ...(key ? { key } : {}), tls, credentials, options };
}

function read(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new Error(`${flag} ${file}: ${code}`, { cause: err });
  }
}

/**
 * grpc-js passes the target host as the TLS server name, and Node warns (DEP0123) when that is
 * an IP address (`--addr 127.0.0.1:50051`, the HEALTHCHECK's): the certificate is still
 * verified against the IP, so the warning is noise on every CLI call. Only that code is dropped.
 */
function quietIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = (rest[0] as { code?: string } | undefined)?.code ?? rest[1];
    if (code === 'DEP0123') return;
    (emit as (...a: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
}
