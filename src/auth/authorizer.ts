import { createHash, timingSafeEqual } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { PermissionDeniedError, UnauthenticatedError } from '../shared/errors.js';
import type { Scope } from './scopes.js';

export interface CallerConfig {
  readonly name: string;
  /** SHA-256 (hex) of the bearer key; the key itself is never configured. */
  readonly keySha256?: string;
  /** mTLS alternative: the client certificate's subject common name. */
  readonly certCommonName?: string;
  /**
   * App ids this caller may use; "*" for all; "component:<componentAppId>/*" for every
   * authorizer of that third-party platform (they join at run time).
   */
  readonly apps: readonly string[];
  readonly scopes: readonly Scope[];
}

export interface Caller {
  readonly name: string;
  readonly apps: ReadonlySet<string>;
  readonly scopes: ReadonlySet<Scope>;
}

/** The auth scheme is case-insensitive (RFC 6750 via RFC 7235): "bearer k" is as good as "Bearer k". */
const BEARER = /^bearer[ \t]+/i;

/** The key of an `authorization: Bearer <key>` header value, or undefined for any other. */
export function bearerKey(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const scheme = BEARER.exec(header);
  return scheme ? header.slice(scheme[0].length).trim() : undefined;
}

/** Used when no auth is configured (loopback only, or --insecure): may do everything. */
export const ANONYMOUS: Caller = {
  name: 'anonymous',
  apps: new Set(['*']),
  scopes: new Set(['token:read', 'token:refresh', 'login', 'login:session_key', 'admin']),
};

/**
 * Who is calling, and may they. Authentication: `authorization: Bearer <key>` metadata, matched
 * by SHA-256 in constant time, or the mTLS client certificate's CN. Authorization: the caller's
 * scopes and apps. A caller asking for an app it may not use gets PERMISSION_DENIED whether or
 * not the app exists, so the answer never reveals which apps are configured.
 */
export class Authorizer {
  readonly #byKey: { digest: Buffer; caller: Caller }[];
  /**
   * Keys already matched, so a busy caller (a gateway SDK sends its key on every request) pays
   * the SHA-256 once. Only keys that matched a configured digest get in, so it holds at most one
   * entry per caller and a stream of wrong keys cannot grow it; wrong keys still take the
   * constant-time path each time.
   */
  readonly #verified = new Map<string, Caller>();
  readonly #byCert: Map<string, Caller>;

  constructor(
    callers: readonly CallerConfig[],
    /** The platform an app is an authorizer of (for `component:<id>/*`), if any. */
    private readonly componentOf: (appId: string) => string | undefined = () => undefined,
  ) {
    const toCaller = (c: CallerConfig): Caller => ({
      name: c.name,
      apps: new Set(c.apps),
      scopes: new Set(c.scopes),
    });
    this.#byKey = callers
      .filter((c) => c.keySha256)
      .map((c) => ({ digest: Buffer.from(c.keySha256!, 'hex'), caller: toCaller(c) }));
    this.#byCert = new Map(
      callers.filter((c) => c.certCommonName).map((c) => [c.certCommonName!, toCaller(c)]),
    );
  }

  get enabled(): boolean {
    return this.#byKey.length > 0 || this.#byCert.size > 0;
  }

  authenticate(metadata: grpc.Metadata, peerCommonName?: string): Caller {
    if (!this.enabled) return ANONYMOUS;
    const key = bearerKey(metadata.get('authorization')[0]);
    if (key !== undefined) {
      const found = this.callerForKey(key);
      if (found) return found;
      throw new UnauthenticatedError('the bearer key is not recognised');
    }
    if (peerCommonName) {
      const caller = this.#byCert.get(peerCommonName);
      if (caller) return caller;
      throw new UnauthenticatedError('the client certificate is not a configured caller');
    }
    throw new UnauthenticatedError(
      'missing credentials: send "authorization: Bearer <key>" metadata',
    );
  }

  /**
   * The caller whose key this is (SHA-256 match), or undefined. Compares against every key in
   * constant time, so timing says nothing about which one matched.
   */
  callerForKey(key: string): Caller | undefined {
    const known = this.#verified.get(key);
    if (known) return known;
    const digest = createHash('sha256').update(key).digest();
    let found: Caller | undefined;
    for (const k of this.#byKey) {
      if (k.digest.length === digest.length && timingSafeEqual(k.digest, digest)) {
        found ??= k.caller;
      }
    }
    if (found) this.#verified.set(key, found);
    return found;
  }

  /** Throws PermissionDeniedError unless `caller` has `scope` (and may use `appId`, if given). */
  authorize(caller: Caller, scope: Scope, appId?: string): void {
    if (!caller.scopes.has(scope)) {
      throw new PermissionDeniedError(`caller ${caller.name} lacks scope ${scope}`);
    }
    if (appId !== undefined && !this.canUseApp(caller, appId)) {
      throw new PermissionDeniedError(`caller ${caller.name} may not use app ${appId}`);
    }
  }

  /**
   * ComponentService calls name a platform: the caller needs "*" or
   * "component:<componentAppId>/*" (every authorizer of it) in its apps.
   */
  authorizeComponent(caller: Caller, componentAppId: string): void {
    if (this.canUseComponent(caller, componentAppId)) return;
    throw new PermissionDeniedError(
      `caller ${caller.name} may not use component ${componentAppId}`,
    );
  }

  canUseComponent(caller: Caller, componentAppId: string): boolean {
    return caller.apps.has('*') || caller.apps.has(`component:${componentAppId}/*`);
  }

  canUseApp(caller: Caller, appId: string): boolean {
    if (caller.apps.has('*') || caller.apps.has(appId)) return true;
    const component = this.componentOf(appId);
    return component !== undefined && caller.apps.has(`component:${component}/*`);
  }
}
