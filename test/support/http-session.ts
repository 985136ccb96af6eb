// A cookie-keeping HTTP client that walks redirects by hand across the gate and the issuer, so
// integration tests can sign in through the real OIDC flow without a browser.
interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

export class HttpSession {
  // Browsers scope cookies by host and path, not port: the gate and the issuer on localhost share
  // a jar, and the issuer's interaction cookies only go back to their own paths.
  private jar = new Map<string, Map<string, StoredCookie>>();

  private cookieHeader(url: URL): string {
    const cookies = this.jar.get(url.hostname);
    if (!cookies) return '';
    const inPath = (c: StoredCookie) =>
      url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`);
    return [...cookies.values()]
      .filter(inPath)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private store(url: URL, res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';').map((a) => a.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k = '', v = ''] = attr.split('=');
        const key = k.toLowerCase();
        if (key === 'path') path = v;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
        if (key === 'max-age' && Number(v) <= 0) expired = true;
      }
      const cookies = this.jar.get(url.hostname) ?? new Map<string, StoredCookie>();
      const id = `${name}|${path}`;
      if (expired) cookies.delete(id);
      else cookies.set(id, { name, value, path });
      this.jar.set(url.hostname, cookies);
    }
  }

  cookie(host: string, name: string): string | undefined {
    return [...(this.jar.get(host)?.values() ?? [])].find((c) => c.name === name)?.value;
  }

  /** One request, no redirect following. */
  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(u);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    this.store(u, res);
    return res;
  }

  /** Follows redirects (303/302 turn into GET) and returns the final response and its URL. */
  async follow(url: string | URL, init: RequestInit = {}, max = 20): Promise<{ res: Response; url: URL }> {
    let current = new URL(url);
    let res = await this.request(current, init);
    for (let i = 0; i < max && res.status >= 300 && res.status < 400; i++) {
      await res.arrayBuffer();
      current = new URL(res.headers.get('location')!, current);
      res = await this.request(current);
    }
    return { res, url: current };
  }

  /** Posts a urlencoded form, with the Origin header a browser would send. */
  postForm(url: string | URL, fields: Record<string, string>): Promise<{ res: Response; url: URL }> {
    const u = new URL(url);
    return this.follow(u, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: u.origin },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

/** Reads the value of a hidden/input field from an HTML page. */
export function formField(html: string, name: string): string | undefined {
  const m = html.match(new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`)) ??
    html.match(new RegExp(`<input[^>]*value="([^"]*)"[^>]*name="${name}"`));
  return m?.[1]?.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

/** Signs in at the gate through the issuer's real login form. Returns the gate page it ends on. */
export async function signIn(session: HttpSession, gateUrl: string, username: string, password: string) {
  const start = await session.follow(`${gateUrl}/auth/login`);
  const html = await start.res.text();
  const action = html.match(/<form[^>]*action="([^"]*\/login)"/)?.[1];
  if (!action) throw new Error(`no login form at ${start.url}: ${start.res.status} ${html.slice(0, 300)}`);
  return session.postForm(new URL(action.replace(/&amp;/g, '&'), start.url), { username, password });
}
