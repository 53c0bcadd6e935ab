import { errcodeOf, isTokenInvalid } from 'wxtoken-client';
import { describe, expect, it } from 'vitest';

/** withToken's retry rule (design.md "Client libraries"): which errors and bodies count. */
describe('wxtoken-client errcode recognition', () => {
  const cases: [string, unknown, number | null, boolean][] = [
    [
      'thrown error with numeric errcode 40001',
      Object.assign(new Error('x'), { errcode: 40001 }),
      40001,
      true,
    ],
    ['body with errcode 40014', { errcode: 40014, errmsg: 'invalid access_token' }, 40014, true],
    ['body with string errcode "42001"', { errcode: '42001' }, 42001, true],
    ['string errcode with spaces', { errcode: ' 40001 ' }, 40001, true],
    ['another errcode (45009) is not a token error', { errcode: 45009 }, 45009, false],
    ['errcode 0 (success body)', { errcode: 0, errmsg: 'ok' }, 0, false],
    ['-1 (busy) is not a token error', { errcode: -1 }, -1, false],
    ['non-numeric string', { errcode: '40001abc' }, null, false],
    ['fractional number', { errcode: 40001.5 }, null, false],
    ['no errcode', { ip_list: [] }, null, false],
    ['a string', '40001', null, false],
    ['null', null, null, false],
    ['undefined', undefined, null, false],
  ];
  it.each(cases)('%s', (_name, value, code, invalid) => {
    expect(errcodeOf(value)).toBe(code);
    expect(isTokenInvalid(value)).toBe(invalid);
  });
});
