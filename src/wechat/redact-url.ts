/**
 * Helpers that keep credentials out of error messages (invariant 8). WeChat puts the
 * AppSecret and the access_token in query strings, and undici quotes the URL in some of its
 * errors, so anything derived from a request is passed through these before it is shown.
 */

export const REDACTED = '[REDACTED]';

/**
 * Query parameters whose values are credentials in the WeChat API. `signature` is the
 * login-state HMAC of the session_key: for a GET it is constant per key, so it is one too.
 * `code` (a phone or login code) and `ticket` (jsapi / wx_card) are single-use or short-lived
 * but still grant something while they live.
 */
const SENSITIVE_PARAM =
  /(?<![A-Za-z0-9])(secret|appsecret|access_token|js_code|session_key|signature|code|ticket)=[^&\s#"'<>]*/gi;

/**
 * The same names as JSON (or JS-ish) fields, `"session_key":"..."`, quoted or not: a body that
 * is not valid JSON (cut short, wrapped in HTML) may still carry a credential the caller does
 * not know yet, such as the session_key, access_token or ticket WeChat was returning. Phone
 * numbers are personal data: a cut-short getuserphonenumber reply must not put one in a log.
 * A quoted value runs to its closing quote, spaces included (`"+1 4155550100"`).
 */
const SENSITIVE_FIELD =
  /(?<![A-Za-z0-9_])(["']?)(secret|appsecret|access_token|js_code|session_key|signature|code|ticket|phoneNumber|purePhoneNumber)\1(\s*:\s*["']?)(?:(?<=["'])[^"'\n]*|[^"'\s,;&{}<>]*)/gi;

/**
 * Replaces the value of every secret=, appsecret=, access_token=, js_code=, session_key=,
 * signature=, code=, ticket= parameter.
 */
export function redactUrl(text: string): string {
  return text.replace(SENSITIVE_PARAM, (_match, name: string) => `${name}=${REDACTED}`);
}

/** Replaces the value of every `"secret": "..."`-style field with one of the names above. */
export function redactFields(text: string): string {
  return text.replace(
    SENSITIVE_FIELD,
    (_match, quote: string, name: string, sep: string) =>
      `${quote}${name}${quote}${sep}${REDACTED}`,
  );
}

/** Replaces every occurrence of the given values (and their URL-encoded forms). */
export function scrubValues(text: string, values: readonly string[]): string {
  let out = text;
  for (const value of values) {
    if (value === '') continue;
    for (const form of new Set([value, encodeURIComponent(value)])) {
      out = out.split(form).join(REDACTED);
    }
  }
  return out;
}

/**
 * redactUrl, redactFields, then scrubValues: the one call to make on text that may quote a
 * request or a response body.
 */
export function redact(text: string, values: readonly string[] = []): string {
  return scrubValues(redactFields(redactUrl(text)), values);
}

/**
 * A short, safe excerpt of an unexpected response body, for a message: its length and its
 * first `max` printable characters after redaction. A trailing fragment that could be the
 * start of a credential (4+ chars) is cut, so truncation can never expose part of one.
 */
export function describeBody(body: string, values: readonly string[], max = 40): string {
  const printable = redact(body.replace(/\p{Cc}+/gu, ' ').trim(), values);
  let head = printable.slice(0, max);
  for (const value of values) {
    for (let n = Math.min(value.length, head.length); n >= 4; n--) {
      if (head.endsWith(value.slice(0, n))) {
        head = head.slice(0, head.length - n);
        break;
      }
    }
  }
  const more = printable.length > head.length ? '...' : '';
  return head
    ? `${body.length} bytes, starts with ${JSON.stringify(head + more)}`
    : `${body.length} bytes`;
}
