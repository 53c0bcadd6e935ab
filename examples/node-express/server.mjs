// A business service on Express that calls WeChat with wxtoken's token, never fetching its own.
//   WXTOKEN_ADDRESS  wxtoken's gRPC address (default 127.0.0.1:50051, what `wxtoken dev` listens on)
//   WXTOKEN_KEY      a caller key (optional: `wxtoken dev` needs none)
//   WECHAT_API       WeChat's API origin (default https://api.weixin.qq.com; with `wxtoken dev`,
//                    the simulator URL it prints)
//   APP_ID           the app (default wxdemo0000000001, `wxtoken dev`'s demo app with a jsapi ticket)
//   PORT             this service's port (default 3000; 0 picks a free one)
import express from 'express';
import { WxTokenClient } from 'wxtoken-client';

const wechat = process.env.WECHAT_API ?? 'https://api.weixin.qq.com';
const appId = process.env.APP_ID ?? 'wxdemo0000000001';
const wxtoken = new WxTokenClient({
  address: process.env.WXTOKEN_ADDRESS ?? '127.0.0.1:50051',
  ...(process.env.WXTOKEN_KEY ? { key: process.env.WXTOKEN_KEY } : {}),
});

const app = express();
app.use(express.json());

// A customer-service message. withToken gives fn wxtoken's current token; if WeChat answers
// 40001/40014/42001 (the token died), it reports that token with ForceRefresh and calls fn once
// more with the new one. WeChat's errcode comes back in the body: return it, withToken reads it.
app.post('/send', async (req, res, next) => {
  try {
    const { openid, text } = req.body ?? {};
    if (typeof openid !== 'string' || typeof text !== 'string') {
      res.status(400).json({ error: 'openid and text (strings) are required' });
      return;
    }
    const answer = await wxtoken.withToken(appId, async (token) => {
      const r = await fetch(`${wechat}/cgi-bin/message/custom/send?access_token=${token}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ touser: openid, msgtype: 'text', text: { content: text } }),
      });
      return r.json();
    });
    res.json(answer);
  } catch (err) {
    next(err);
  }
});

// What a page's wx.config needs: the signature is made on wxtoken, the jsapi_ticket stays there.
app.get('/jsconfig', async (req, res, next) => {
  try {
    const url = String(req.query.url ?? '');
    const s = await wxtoken.signJsapi(appId, url);
    res.json({ appId, timestamp: s.timestamp, nonceStr: s.nonceStr, signature: s.signature });
  } catch (err) {
    next(err);
  }
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`example listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => {
  server.close();
  wxtoken.close();
});
