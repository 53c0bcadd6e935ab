import { ConfigError } from '../config/config-error.js';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';

type IdentityUpdate = grpc.experimental.IdentityCertificateUpdate;
type CaUpdate = grpc.experimental.CaCertificateUpdate;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string | undefined;
}

interface Material {
  readonly identity: IdentityUpdate;
  readonly ca: CaUpdate | null;
}

function same(a: Material, b: Material): boolean {
  return (
    a.identity.certificate.equals(b.identity.certificate) &&
    a.identity.privateKey.equals(b.identity.privateKey) &&
    (a.ca?.caCertificate ?? Buffer.alloc(0)).equals(b.ca?.caCertificate ?? Buffer.alloc(0))
  );
}

/** Reads and checks the files: unreadable files and a cert/key that do not match are errors. */
function load(files: TlsFiles): Material {
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'read error';
      throw new ConfigError(
        { key: `tls.${key}`, problem: `cannot read ${path} (${code})` },
        { cause: err },
      );
    }
  };
  const certificate = read('certFile', files.certFile);
  const privateKey = read('keyFile', files.keyFile);
  const ca = files.clientCaFile ? read('clientCaFile', files.clientCaFile) : null;
  try {
    createSecureContext({ cert: certificate, key: privateKey, ...(ca ? { ca } : {}) });
  } catch (err) {
    // OpenSSL's reason ("key values mismatch", "no start line"); never any key material.
    throw new Error(
      `tls: ${files.certFile} and ${files.keyFile} are not a usable certificate and key: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return {
    identity: { certificate, privateKey },
    ca: ca ? { caCertificate: ca } : null,
  };
}

/** What the reload log line says about the new certificate (public facts only). */
function describe(certificate: Buffer): { serial: string; validTo: string } {
  try {
    const x509 = new X509Certificate(certificate);
    return { serial: x509.serialNumber, validTo: x509.validTo };
  } catch {
    return { serial: 'unknown', validTo: 'unknown' };
  }
}

/**
 * Server TLS material from files, for grpc-js's certificate-provider credentials. Unlike
 * grpc-js's FileWatcherCertificateProvider: the files are read and checked when the server
 * starts (a missing or broken file stops it, rather than a server that drops every
 * connection), `reload()` re-reads them at once (SIGHUP), and a new set is put in service
 * only when certificate and key match, so a half-finished rotation keeps the previous pair.
 */
export class TlsFileProvider implements grpc.experimental.CertificateProvider {
  #current: Material;
  readonly #identityListeners = new Set<IdentityListener>();
  readonly #caListeners = new Set<CaListener>();
  #timer: NodeJS.Timeout | undefined;
  /** The last problem reported, so a lasting one is logged once, not every interval. */
  #problem: string | undefined;

  /** Throws (naming the file) when the files cannot be used. */
  constructor(
    private readonly files: TlsFiles,
    private readonly report: {
      reloaded: (info: { serial: string; validTo: string }) => void;
      rejected: (problem: string) => void;
    },
  ) {
    this.#current = load(files);
  }

  /** The files in service as node:tls options (cert, key and, for mTLS, the client CA). */
  secureContextOptions(): { cert: Buffer; key: Buffer; ca?: Buffer } {
    const { identity, ca } = this.#current;
    return {
      cert: identity.certificate,
      key: identity.privateKey,
      ...(ca ? { ca: ca.caCertificate } : {}),
    };
  }

  /** Re-reads the files; a changed, valid set replaces the one in service. */
  reload(): 'changed' | 'unchanged' | 'rejected' {
    let next: Material;
    try {
      next = load(this.files);
    } catch (err) {
      const problem = (err as Error).message;
      if (problem !== this.#problem) this.report.rejected(problem);
      this.#problem = problem;
      return 'rejected';
    }
    this.#problem = undefined;
    if (same(next, this.#current)) return 'unchanged';
    this.#current = next;
    this.report.reloaded(describe(next.identity.certificate));
    for (const l of this.#identityListeners) l(next.identity);
    if (next.ca) for (const l of this.#caListeners) l(next.ca);
    return 'changed';
  }

  /** Re-reads the files every `intervalMs` until `stop()`. */
  watch(intervalMs: number): void {
    this.#timer ??= setInterval(() => this.reload(), intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  // grpc-js adds its listener before it adds the server's watcher: answer on the next tick.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    process.nextTick(() => listener(this.#current.identity));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    process.nextTick(() => listener(this.#current.ca));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }
}
