/** Control-API and module-API misuse; the HTTP layer maps these to 400 and 404. */

/** Rejected settings, fault or request body; the message names the bad key. */
export class SimInputError extends Error {
  override readonly name = 'SimInputError';
}

/** A control call named an app that was never configured (or was forgotten by a reset). */
export class SimUnknownAppError extends Error {
  override readonly name = 'SimUnknownAppError';
  constructor(readonly appId: string) {
    super(`app ${JSON.stringify(appId)} is not configured`);
  }
}

/** A control call named an openid the app never issued a code for. */
export class SimUnknownUserError extends Error {
  override readonly name = 'SimUnknownUserError';
  constructor(
    readonly appId: string,
    readonly openid: string,
  ) {
    super(`app ${JSON.stringify(appId)} has no user with openid ${JSON.stringify(openid)}`);
  }
}

/** A control call asked for something the app does not have yet (e.g. a ticket before any). */
export class SimNotFoundError extends Error {
  override readonly name = 'SimNotFoundError';
}
