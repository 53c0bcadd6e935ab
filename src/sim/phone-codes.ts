import { loginValues } from './login-values.js';
import type { SimIssuedPhoneCode } from './types.js';

/** Unexchanged phone codes remembered per app; past this the oldest are forgotten (→ 40029). */
export const MAX_PHONE_CODES = 10_000;

interface PhoneCode {
  readonly issued: SimIssuedPhoneCode;
}

/**
 * `+86 13800138000` → country code 86, pure number 13800138000; a number without a prefix is
 * Chinese. phoneNumber is the pure number for 86 and `+CC number` otherwise: WeChat documents
 * phoneNumber as "the bound number; foreign numbers carry the area code" [inferred, §8].
 */
export function splitPhoneNumber(
  input: string,
): Pick<SimIssuedPhoneCode, 'phoneNumber' | 'purePhoneNumber' | 'countryCode'> {
  const match = /^\+(\d{1,3}) (\d+)$/.exec(input);
  const countryCode = match?.[1] ?? '86';
  const purePhoneNumber = match?.[2] ?? input;
  const phoneNumber = countryCode === '86' ? purePhoneNumber : `+${countryCode} ${purePhoneNumber}`;
  return { phoneNumber, purePhoneNumber, countryCode };
}

/**
 * One app's phone-number codes (wechat-api.md §8): what the getPhoneNumber button hands the
 * mini program, exchanged once at getuserphonenumber within their lifetime. A used code is
 * forgotten at once, so it answers like an unknown or expired one (40029, as §8 says).
 * Pure: time is passed in.
 */
export class PhoneCodes {
  /** Oldest first (insertion order). */
  readonly #codes = new Map<string, PhoneCode>();

  issue(phone: string, now: number, lifetimeMs: number): SimIssuedPhoneCode {
    this.#forgetExpired(now);
    let code = loginValues.code();
    while (this.#codes.has(code)) code = loginValues.code();
    const issued = { code, ...splitPhoneNumber(phone), expiresAt: now + lifetimeMs };
    this.#codes.set(code, { issued });
    if (this.#codes.size > MAX_PHONE_CODES) {
      const oldest = this.#codes.keys().next().value;
      if (oldest !== undefined) this.#codes.delete(oldest);
    }
    return issued;
  }

  /** The code's number, consuming the code; undefined for an unknown, used or expired code. */
  exchange(code: string, now: number): SimIssuedPhoneCode | undefined {
    const found = this.#codes.get(code);
    if (!found) return undefined;
    this.#codes.delete(code);
    return now < found.issued.expiresAt ? found.issued : undefined;
  }

  get size(): number {
    return this.#codes.size;
  }

  /**
   * Codes expire in issue order only while the lifetime is unchanged; a stale entry behind a
   * longer-lived one is dropped later or by the cap, and exchange checks expiry itself.
   */
  #forgetExpired(now: number): void {
    for (const [code, { issued }] of this.#codes) {
      if (now < issued.expiresAt) break;
      this.#codes.delete(code);
    }
  }
}
