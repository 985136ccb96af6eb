import type { Child } from 'hono/jsx';
import { raw } from 'hono/html';
import type { Identity } from '../auth/identity.js';

export interface PageContext {
  title: string;
  demo: boolean;
  identity: Identity | null;
  csrf?: string;
  nonce?: string;
}

const css = `
:root{--fg:#1d2430;--muted:#5b6575;--line:#dde2ea;--bg:#f6f8fb;--card:#fff;--brand:#294172;--ok:#1a7f37;--bad:#b42318;--warn:#9a6700}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:var(--brand);color:#fff}header .in{max-width:60rem;margin:0 auto;padding:.75rem 1.25rem;display:flex;gap:1rem;align-items:center;justify-content:space-between}
header a{color:#fff;text-decoration:none;font-weight:600}header form{margin:0}
.demo{background:#fff4ce;color:#5c4400;border-bottom:1px solid #f0d78c;text-align:center;padding:.4rem 1rem;font-size:.9rem}
main{max-width:60rem;margin:1.5rem auto;padding:0 1.25rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1.25rem 1.5rem;margin-bottom:1.25rem}
h1{font-size:1.6rem;margin:.2rem 0 1rem}h2{font-size:1.15rem;margin:0 0 .75rem}
.checklist{list-style:none;padding:0;margin:0}.checklist li{padding:.45rem 0;border-bottom:1px solid var(--line);display:flex;gap:.6rem;align-items:baseline}
.checklist li:last-child{border-bottom:0}.mark{font-weight:700;width:1.2rem;display:inline-block}.yes .mark{color:var(--ok)}.no .mark{color:var(--bad)}
button,.button{font:inherit;border:0;border-radius:8px;padding:.55rem 1rem;background:var(--brand);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#e9edf3;color:var(--fg)}a{color:var(--brand)}.mt{margin-top:1rem}button.danger{background:var(--bad)}button.small{padding:.2rem .6rem;font-size:.85rem}
.muted{color:var(--muted)}.error{border-color:#f4c7c3;background:#fff6f5}.ok{color:var(--ok)}
.agreement{max-height:16rem;overflow:auto;background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem;white-space:pre-wrap;font-size:.95rem}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0}dl.kv dt{color:var(--muted)}dl.kv dd{margin:0}
.snippet{margin:.9rem 0}.snippet .head{display:flex;justify-content:space-between;align-items:center;margin-bottom:.25rem}
pre{margin:0;background:#0f1720;color:#e6edf3;border-radius:8px;padding:.7rem .9rem;overflow:auto;font-size:.88rem;white-space:pre-wrap;overflow-wrap:anywhere}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.once{border-left:4px solid var(--warn);background:#fffbea;padding:.6rem .9rem;border-radius:6px;margin-bottom:1rem}
label{display:inline-flex;gap:.5rem;align-items:center}select{font:inherit;padding:.35rem;border-radius:6px;border:1px solid var(--line)}
.row{display:flex;gap:.75rem;flex-wrap:wrap;align-items:center}
`;

export function Layout(props: PageContext & { children: Child }) {
  const { identity } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · FDWG Access Gate</title>
        <link rel="icon" href="data:," />
        <style nonce={props.nonce}>{raw(css)}</style>
      </head>
      <body>
        {props.demo && (
          <div class="demo" role="note">
            Demo mode: embedded PostgreSQL, bundled identity provider and generated data. Not for real data.
          </div>
        )}
        <header>
          <div class="in">
            <a href="/">FDWG Access Gate</a>
            {identity ? (
              <form method="post" action="/auth/logout" class="row">
                <span>
                  Signed in as <strong>{identity.username}</strong>
                </span>
                <input type="hidden" name="_csrf" value={props.csrf ?? ''} />
                <button class="secondary small" type="submit">
                  Sign out
                </button>
              </form>
            ) : (
              <a class="button secondary" href="/auth/login">
                Sign in
              </a>
            )}
          </div>
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  );
}
