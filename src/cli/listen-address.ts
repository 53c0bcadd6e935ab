import { isIP } from 'node:net';

/** The host of a `host:port` listen address (IPv6 without its brackets). */
export function listenHost(listen: string): string {
  return listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

/**
 * True only for addresses no other machine can reach: an IPv4 literal in 127.0.0.0/8, ::1, or
 * `localhost`. A DNS name that merely starts with "127." (127.evil.example) is not loopback.
 */
export function isLoopbackListen(listen: string): boolean {
  const host = listenHost(listen);
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}
