/**
 * Timed direct calls to the simulator's WeChat endpoints, for the round trips the herd's
 * latency target is built from. The control API (/__sim/) is test/support's SimControl.
 */

/** Milliseconds of one get_api_domain_ip call (the validity check wxtoken makes). */
export async function timeCheck(simUrl: string, accessToken: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(
    `${simUrl}/cgi-bin/get_api_domain_ip?access_token=${encodeURIComponent(accessToken)}`,
  );
  await res.text();
  return performance.now() - t0;
}

/** Milliseconds of one /cgi-bin/token call, and the token it minted. */
export async function timeFetch(
  simUrl: string,
  appId: string,
  secret: string,
): Promise<{ ms: number; token: string }> {
  const q = new URLSearchParams({ grant_type: 'client_credential', appid: appId, secret });
  const t0 = performance.now();
  const res = await fetch(`${simUrl}/cgi-bin/token?${q.toString()}`);
  const body = (await res.json()) as { access_token?: string; errcode?: number };
  const ms = performance.now() - t0;
  if (!body.access_token) throw new Error(`simulator token call failed: ${body.errcode}`);
  return { ms, token: body.access_token };
}
