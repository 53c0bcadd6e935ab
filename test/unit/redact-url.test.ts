import { describe, expect, it } from 'vitest';
import { describeBody, redact, redactUrl, scrubValues } from '../../src/wechat/redact-url.js';

const SECRET = '0123456789abcdef0123456789abcdef';
const TOKEN = '86_' + 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_'.repeat(3);

describe('redactUrl', () => {
  it.each([
    [
      'GET https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=abc123',
      'GET https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=[REDACTED]',
    ],
    [
      'http://h/cgi-bin/get_api_domain_ip?access_token=86_x-y_z&lang=en',
      'http://h/cgi-bin/get_api_domain_ip?access_token=[REDACTED]&lang=en',
    ],
    [
      'Failed to parse URL from http://h/a?SECRET=s1#frag',
      'Failed to parse URL from http://h/a?SECRET=[REDACTED]#frag',
    ],
    [
      '/sns/jscode2session?appid=a&secret=s&js_code=c&x=1',
      '/sns/jscode2session?appid=a&secret=[REDACTED]&js_code=[REDACTED]&x=1',
    ],
    [
      '/cgi-bin/clear_quota/v2?appid=a&appsecret=s',
      '/cgi-bin/clear_quota/v2?appid=a&appsecret=[REDACTED]',
    ],
    ['client_secret=zz "access_token=t"', 'client_secret=[REDACTED] "access_token=[REDACTED]"'],
    ['nothing to see: appid=wx1&grant_type=x', 'nothing to see: appid=wx1&grant_type=x'],
    ['mysecret=keep', 'mysecret=keep'],
  ])('%s', (input, want) => {
    expect(redactUrl(input)).toBe(want);
  });
});

describe('scrubValues / redact', () => {
  it('replaces raw and URL-encoded occurrences, ignores empty values', () => {
    expect(scrubValues(`a ${SECRET} b ${SECRET}`, [SECRET, ''])).toBe('a [REDACTED] b [REDACTED]');
    expect(scrubValues('x a%2Bb y', ['a+b'])).toBe('x [REDACTED] y');
    expect(redact(`token ${TOKEN} at ?secret=${SECRET}`, [TOKEN])).not.toMatch(
      /86_|0123456789abcdef/,
    );
  });
});

describe('describeBody', () => {
  it('gives the length and a short printable head', () => {
    const body = '<html>\r\n<head><title>502 Bad Gateway</title></head></html>';
    const text = describeBody(body, []);
    expect(text).toMatch(new RegExp(`^${body.length} bytes, starts with "<html> <head><title>502`));
    expect(text.length).toBeLessThan(80);
  });

  it('never shows a credential, whole or cut by the truncation', () => {
    const cases = [
      `error for secret=${SECRET}`,
      `<p>token ${TOKEN}</p>`,
      `${'x'.repeat(30)}${SECRET}`, // the head would end in the first 10 chars of the secret
      `${'x'.repeat(34)}${TOKEN.slice(0, 20)}`, // a truncated token in the body itself
    ];
    for (const body of cases) {
      const text = describeBody(body, [SECRET, TOKEN]);
      expect(text).not.toContain(SECRET.slice(0, 4));
      expect(text).not.toContain(TOKEN.slice(0, 6));
    }
  });

  it('describes an empty body by its length', () => {
    expect(describeBody('', [SECRET])).toBe('0 bytes');
  });
});
