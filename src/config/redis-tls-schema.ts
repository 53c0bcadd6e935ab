import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import * as z from 'zod';
import { Secret } from '../shared/secret.js';
import type { RedisTlsConfig } from './config.js';
import { readConfigFile } from './config-sources.js';

/**
 * `redis.tls`: TLS to Redis with a private CA and mutual TLS. The files are read and checked
 * when the configuration is loaded, so a missing or broken file stops the start with the key
 * named (like `tls.*`), rather than a replica whose every Redis connection fails. Problems
 * name keys and paths; key material is never quoted.
 */

/** What reading the files needs (the relevant part of ConfigDeps). */
export interface TlsFileDeps {
  readFile: (path: string) => string;
  /** Relative paths are resolved against this directory (the config file's). */
  baseDir?: string | undefined;
}

const redisTlsShape = {
  caFile: z
    .string()
    .min(1, 'expected a file path')
    .optional()
    .describe(
      "PEM CA of the Redis servers' certificates (absent: Node's CAs). With any redis.tls key, every URL must be rediss://.",
    ),
  certFile: z
    .string()
    .min(1, 'expected a file path')
    .optional()
    .describe('Client certificate for mutual TLS to Redis (with keyFile; both or neither).'),
  keyFile: z
    .string()
    .min(1, 'expected a file path')
    .optional()
    .describe('Unencrypted private key of certFile.'),
  serverName: z
    .string()
    .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/, 'expected a DNS name such as redis.internal')
    .refine((name) => isIP(name) === 0, {
      message: 'expected a DNS name; an IP address is checked from the URL host already',
    })
    .optional()
    .describe(
      'DNS name checked against the Redis server certificate and sent as SNI (absent: the URL host).',
    ),
};

export const REDIS_TLS_KEYS: readonly string[] = Object.keys(redisTlsShape);

type FileField = 'caFile' | 'certFile' | 'keyFile';
type ReadFile = { path: string; text: string };
type Report = (field: FileField, problem: string) => void;

/** Reads a file a key names; undefined after reporting why it cannot be used. */
function readNamedFile(
  field: FileField,
  file: string,
  deps: TlsFileDeps,
  report: Report,
): ReadFile | undefined {
  const read = readConfigFile(file, deps);
  if ('problem' in read) {
    report(field, read.problem);
    return undefined;
  }
  return read;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Whether a file holds one or more PEM certificates that parse; reports when not. */
function holdsCertificates(field: FileField, file: ReadFile, report: Report): boolean {
  const blocks = file.text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    report(field, `file ${file.path} holds no PEM certificate`);
    return false;
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      report(field, `file ${file.path} holds a PEM certificate that cannot be parsed`);
      return false;
    }
  }
  return true;
}

/** Whether the key is an unencrypted PEM private key of the certificate; reports when not. */
function keyMatches(cert: ReadFile, key: ReadFile, report: Report): boolean {
  try {
    createPrivateKey(key.text);
  } catch {
    report('keyFile', `file ${key.path} holds no unencrypted PEM private key`);
    return false;
  }
  try {
    createSecureContext({ cert: cert.text, key: key.text });
  } catch (err) {
    // OpenSSL's reason ("key values mismatch"); never key material.
    report('keyFile', `does not match redis.tls.certFile (${(err as Error).message})`);
    return false;
  }
  return true;
}

export function redisTlsSchema(deps: TlsFileDeps) {
  return z
    .strictObject(redisTlsShape)
    .optional()
    .transform((tls, ctx): RedisTlsConfig | undefined => {
      if (tls === undefined) return undefined;
      const report: Report = (field, message) => {
        ctx.issues.push({ code: 'custom', message, input: undefined, path: [field] });
      };
      // 1. Mutual TLS needs both halves.
      if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
        const [absent, present]: [FileField, FileField] =
          tls.certFile === undefined ? ['certFile', 'keyFile'] : ['keyFile', 'certFile'];
        report(absent, `is required when redis.tls.${present} is set (mutual TLS needs both)`);
        return z.NEVER;
      }
      // 2. Read every named file, reporting each one that cannot be read.
      const read = (field: FileField): ReadFile | undefined | null => {
        const file = tls[field];
        if (file === undefined) return undefined;
        return readNamedFile(field, file, deps, report) ?? null;
      };
      const [ca, cert, key] = [read('caFile'), read('certFile'), read('keyFile')];
      if (ca === null || cert === null || key === null) return z.NEVER;
      // 3. Check contents: certificates parse; the key is the certificate's.
      const caOk = !ca || holdsCertificates('caFile', ca, report);
      const certOk = !cert || holdsCertificates('certFile', cert, report);
      if (!caOk || !certOk || (cert && key && !keyMatches(cert, key, report))) return z.NEVER;
      return {
        ...(ca ? { caFile: ca.path, ca: ca.text } : {}),
        ...(cert ? { certFile: cert.path, cert: cert.text } : {}),
        ...(key ? { keyFile: key.path, key: new Secret(key.text) } : {}),
        ...(tls.serverName !== undefined ? { serverName: tls.serverName } : {}),
      };
    });
}

/** With redis.tls set, a `redis://` URL would silently connect without TLS: refuse it. */
export function requireTlsUrls(
  redis: { urls: readonly string[]; tls?: RedisTlsConfig | undefined },
  ctx: z.core.$RefinementCtx,
): void {
  if (redis.tls === undefined) return;
  redis.urls.forEach((url, i) => {
    if (!url.startsWith('rediss://')) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected a rediss:// URL: redis.tls is set, and redis:// connects without TLS',
        input: undefined,
        path: ['urls', i],
      });
    }
  });
}
