import { InvalidArgumentError } from '../shared/errors.js';

/**
 * ListApps paging (issue 15 item 5). A page holds at most MAX_APPS_PAGE apps: an answer about
 * 100,000 apps would be tens of MB, past gRPC's default 4 MB message limit, and hold the event
 * loop while it is built. A request without page_size gets a full page, so a client written
 * before paging still sees every app of a fleet of up to 1000.
 */
export const MAX_APPS_PAGE = 1000;
export const DEFAULT_APPS_PAGE = MAX_APPS_PAGE;

/** App ids are [A-Za-z0-9_-], at most 64 characters (config and authorizer appids alike). */
const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The opaque token of the page after the one that ended with `lastAppId`. */
export function encodePageToken(lastAppId: string): string {
  return Buffer.from(lastAppId, 'utf8').toString('base64url');
}

/** The app id a page token resumes after; undefined for the first page (empty token). */
export function decodePageToken(token: string): string | undefined {
  if (token === '') return undefined;
  const id = /^[A-Za-z0-9_-]{1,100}$/.test(token)
    ? Buffer.from(token, 'base64url').toString('utf8')
    : '';
  if (!APP_ID.test(id) || encodePageToken(id) !== token) {
    throw new InvalidArgumentError(
      'page_token',
      'is not a next_page_token from a ListApps answer (start again with an empty page_token)',
    );
  }
  return id;
}

/** page_size as asked: 0 = the default, above the maximum = the maximum. */
export function pageSize(requested: number): number {
  if (!Number.isInteger(requested) || requested < 0) {
    throw new InvalidArgumentError('page_size', 'must not be negative');
  }
  return requested === 0 ? DEFAULT_APPS_PAGE : Math.min(requested, MAX_APPS_PAGE);
}
