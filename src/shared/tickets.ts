/**
 * The ticket kinds an app can opt into (`apps[].tickets`): `jsapi` signs JS-SDK `wx.config`
 * calls, `wx_card` is the card `api_ticket`. Both come from `/cgi-bin/ticket/getticket?type=`.
 */
export const TICKET_TYPES = ['jsapi', 'wx_card'] as const;

export type TicketType = (typeof TICKET_TYPES)[number];
