import { BlockList, isIP } from 'node:net';

/** The host of a `host:port` listen address (IPv6 without its brackets). */
export function listenHost(listen: string): string {
  return listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

/** 127.0.0.0/8 and ::1; BlockList also matches their other spellings (::ffff:127.x, 0:…:1). */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * True only for addresses no other machine can reach: an IP literal in 127.0.0.0/8 or ::1 (in
 * any spelling), or `localhost`. A DNS name that merely starts with "127." (127.evil.example)
 * is not loopback.
 */
export function isLoopbackListen(listen: string): boolean {
  const host = listenHost(listen);
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}
