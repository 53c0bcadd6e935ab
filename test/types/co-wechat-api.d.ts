/** The parts of co-wechat-api (node-webot, CommonJS, no types of its own) the gateway tests use. */
declare module 'co-wechat-api' {
  interface AccessToken {
    accessToken: string;
    expireTime: number;
  }
  class WeChatAPI {
    constructor(appid: string, appsecret: string);
    prefix: string;
    snsPrefix: string;
    wxaPrefix: string;
    ensureAccessToken(): Promise<AccessToken>;
    getTicket(type?: string): Promise<{ ticket: string; expireTime: number }>;
    getIp(): Promise<{ ip_list: string[] }>;
    sendText(openid: string, text: string): Promise<{ errcode: number; errmsg: string }>;
  }
  export default WeChatAPI;
}
