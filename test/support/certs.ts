import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Test PKI made with the `openssl` CLI in a temp dir: a CA, server certificates for
 * 127.0.0.1/localhost, and client certificates by CN. EC P-256 keys (fast to make).
 */

export interface IssuedCert {
  readonly certFile: string;
  readonly keyFile: string;
  /** Serial as upper-case hex without leading zeros (as node's getPeerCertificate().serialNumber, normalised). */
  readonly serial: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestCa {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: Buffer;
  /**
   * A server certificate written to `name`.crt/.key; SAN IP:127.0.0.1, DNS:localhost unless
   * `subjectAltName` says otherwise (e.g. `DNS:wxtoken.internal`, a name the dialled IP is not).
   */
  issueServer(name: string, subjectAltName?: string): IssuedCert;
  /** A client certificate with subject CN=`commonName`. */
  issueClient(commonName: string): IssuedCert;
}

/** Fails loudly (not a skip) when the CLI is missing: the mTLS tests need it. */
export function assertOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
  } catch {
    throw new Error(
      'the `openssl` CLI is required to generate test certificates: apt-get install -y openssl',
    );
  }
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe' });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr}`, { cause: err });
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A random positive serial whose hex form has no leading zero. */
function randomSerial(): string {
  return `7${randomBytes(8).toString('hex').toUpperCase()}`;
}

/** Normalises a serial as node prints it (upper-case hex, maybe zero-padded) for comparison. */
export function normaliseSerial(serial: string): string {
  return serial.toUpperCase().replace(/^0+/, '');
}

export function createTestCa(): TestCa {
  assertOpenssl();
  const dir = mkdtempSync(join(tmpdir(), 'wxtoken-certs-'));
  openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=wxtoken test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );

  const issue = (name: string, subject: string, extensions: string): IssuedCert => {
    const serial = randomSerial();
    const ext = `${name}.ext`;
    writeFileSync(join(dir, ext), extensions);
    openssl(
      ['req', '-new', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject],
      dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        `0x${serial}`,
        '-days',
        '2',
        '-sha256',
        '-extfile',
        ext,
        '-out',
        `${name}.crt`,
      ],
      dir,
    );
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    return {
      certFile,
      keyFile,
      serial,
      cert: readFileSync(certFile),
      key: readFileSync(keyFile),
    };
  };

  const caFile = join(dir, 'ca.crt');
  return {
    dir,
    caFile,
    ca: readFileSync(caFile),
    issueServer: (name, subjectAltName = 'IP:127.0.0.1,DNS:localhost') =>
      issue(
        name,
        '/CN=localhost',
        [
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature,keyEncipherment',
          'extendedKeyUsage=serverAuth',
          `subjectAltName=${subjectAltName}`,
          '',
        ].join('\n'),
      ),
    issueClient: (commonName) =>
      issue(
        `client-${commonName}`,
        `/CN=${commonName}`,
        [
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=clientAuth',
          '',
        ].join('\n'),
      ),
  };
}
