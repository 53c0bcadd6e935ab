import { InvalidArgumentError } from '../shared/errors.js';
import type { TicketType } from '../shared/tickets.js';

const APP_ID = /^[A-Za-z0-9_-]+$/;

/** Checks a request's app_id; the error names the field (invariant 9). */
export function requireAppId(value: unknown, field = 'app_id'): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidArgumentError(field, 'must not be empty');
  }
  if (value.length > 64) throw new InvalidArgumentError(field, 'longer than 64 characters');
  if (!APP_ID.test(value)) {
    throw new InvalidArgumentError(field, 'may contain only letters, digits, "_" and "-"');
  }
  return value;
}

/** Optional string field with a length cap; WeChat tokens are documented as up to 512 chars. */
export function optionalString(value: unknown, field: string, maxLength: number): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new InvalidArgumentError(field, 'must be a string');
  if (value.length > maxLength) {
    throw new InvalidArgumentError(field, `longer than ${maxLength} characters`);
  }
  return value;
}

const TICKET_TYPES: Readonly<Record<string, TicketType>> = {
  TICKET_TYPE_JSAPI: 'jsapi',
  TICKET_TYPE_WX_CARD: 'wx_card',
};

/** A request's ticket type; UNSPECIFIED or a number this server does not know is refused. */
export function requireTicketType(value: unknown, field = 'type'): TicketType {
  const type = typeof value === 'string' ? TICKET_TYPES[value] : undefined;
  if (!type) {
    throw new InvalidArgumentError(field, 'must be TICKET_TYPE_JSAPI or TICKET_TYPE_WX_CARD');
  }
  return type;
}
