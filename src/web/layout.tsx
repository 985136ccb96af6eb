import type { Child } from 'hono/jsx';
import { raw } from 'hono/html';
import { navLinks as linksFor } from '../access/rules.js';
import type { Identity, Standing } from '../auth/identity.js';

export interface PageContext {
  title: string;
  demo: boolean;
  identity: Identity | null;
  csrf?: string;
  nonce?: string;
  /** The header section this page belongs to (its link is marked current). */
  current?: string;
  /** Wider main column, for tables. */
  wide?: boolean;
  /** Decides the header links: the sections of the rule table this standing may open. */
  standing?: Standing;
}

/** The header links this person's standing opens (src/access/rules.ts), the page's own section marked. */
function navLinks(props: PageContext): { href: string; label: string; current: boolean }[] {
  return linksFor(props.standing).map((l) => ({ ...l, current: l.href === props.current }));
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
nav.top{display:flex;gap:1.25rem;margin-right:auto;margin-left:1rem}nav.top a{font-weight:500;opacity:.85}nav.top a[aria-current=page]{opacity:1;text-decoration:underline;text-underline-offset:.3em}
body.wide main,body.wide header .in{max-width:80rem}
/* auditor pages */
.tablewrap{overflow-x:auto}table.log{width:100%;border-collapse:collapse;font-size:.88rem}table.log th,table.log td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
table.log th{color:var(--muted);font-weight:600;white-space:nowrap;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em}table.log td.t{white-space:nowrap;font-variant-numeric:tabular-nums}table.log td.d{color:var(--muted);max-width:24rem;overflow-wrap:anywhere}
table.log tbody tr:hover{background:#f8fafc}table.counts{border-collapse:collapse;font-size:.85rem}table.counts th,table.counts td{padding:.2rem .7rem;border-bottom:1px solid var(--line);text-align:right}table.counts th:first-child,table.counts td:first-child{text-align:left}
.badge{display:inline-block;padding:.05rem .55rem;border-radius:999px;font-size:.78rem;font-weight:600;white-space:nowrap;background:#e9edf3;color:var(--fg)}
.badge.a-ok{background:#e6f4ea;color:#14632b}.badge.a-cred{background:#e7eefb;color:#1f4690}.badge.a-end{background:#fff4ce;color:#6b4e00}.badge.a-bad{background:#fde8e7;color:#9b1c13}.badge.a-pii{background:#efe7fb;color:#5b2a9e}
.warnbox{border-left:5px solid var(--warn);background:#fffbea;border-color:#f0d78c}.badbox{border-left:5px solid var(--bad);background:#fff6f5;border-color:#f4c7c3}.goodbox{border-left:5px solid var(--ok)}
.filters{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:.7rem 1rem}.filters label{display:flex;flex-direction:column;align-items:stretch;gap:.2rem;font-size:.85rem;color:var(--muted)}
.filters input,.filters select{font:inherit;font-size:.92rem;height:2.3rem;padding:0 .55rem;border:1px solid #c9d0db;border-radius:6px;color:var(--fg);background:#fff;min-width:0}
.overview{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.9fr);gap:0 1.25rem;align-items:start}.chips{display:flex;flex-wrap:wrap;gap:.4rem .6rem;margin:.4rem 0 0;padding:0;list-style:none}.chips a{text-decoration:none;color:var(--fg)}.chips a:hover .badge{outline:2px solid #c9d0db}
@media (max-width:56rem){.overview{grid-template-columns:minmax(0,1fr)}.filters{grid-template-columns:repeat(2,minmax(0,1fr))}}
.pager{display:flex;justify-content:space-between;align-items:center;gap:1rem;margin-top:.9rem;flex-wrap:wrap}.pager .links{display:flex;gap:.5rem}.button.disabled{opacity:.45;pointer-events:none}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.84rem;overflow-wrap:anywhere}.nowrap{white-space:nowrap}
.chart{width:100%;height:auto;display:block}.chart .s-read{fill:#6d4bb5}.chart .s-grant{fill:#d97706}.chart .axis{stroke:#98a2b3}.chart .grid{stroke:#e8ecf2}.chart text{fill:#5b6575;font-size:11px;font-family:inherit}
.legend{display:flex;gap:1.2rem;font-size:.85rem;margin:.3rem 0}.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.35rem;vertical-align:-.1rem}.legend .k-read{background:#6d4bb5}.legend .k-grant{background:#d97706}
.stats{display:flex;gap:2rem;flex-wrap:wrap;margin:.2rem 0 .8rem}.stats div{display:flex;flex-direction:column}.stats strong{font-size:1.3rem}.stats span{color:var(--muted);font-size:.85rem}
details summary{cursor:pointer;color:var(--brand)}
/* PII requests */
fieldset{border:1px solid var(--line);border-radius:8px;padding:.5rem 1rem;margin:0 0 1rem}legend{font-weight:600;padding:0 .3rem}
.dataset{display:flex;gap:.7rem;align-items:flex-start;padding:.6rem 0;border-bottom:1px solid var(--line)}.dataset:last-child{border-bottom:0}.dataset input{margin-top:.35rem}
.stack{display:flex;flex-direction:column;gap:.3rem;align-items:stretch}textarea{font:inherit;padding:.5rem;border:1px solid #c9d0db;border-radius:6px;min-height:6rem;width:100%}
.state{font-weight:600}.state-pending{color:var(--warn)}.state-approved{color:var(--ok)}.state-denied,.state-expired,.state-withdrawn{color:var(--muted)}
blockquote{margin:.4rem 0;padding:.4rem .8rem;border-left:4px solid var(--line);background:var(--bg);white-space:pre-wrap;overflow-wrap:anywhere}
.request h2{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}.history{font-size:.9rem}
`;

export function Layout(props: PageContext & { children: Child }) {
  const { identity } = props;
  const nav = navLinks(props);
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · FDWG Access Gate</title>
        <link rel="icon" href="data:," />
        <style nonce={props.nonce}>{raw(css)}</style>
      </head>
      <body class={props.wide ? 'wide' : undefined}>
        {props.demo && (
          <div class="demo" role="note">
            Demo mode: embedded PostgreSQL, bundled identity provider and generated data. Not for real data.
          </div>
        )}
        <header>
          <div class="in">
            <a href="/">FDWG Access Gate</a>
            {nav.length ? (
              <nav class="top" aria-label="Sections">
                {nav.map((n) => (
                  <a href={n.href} aria-current={n.current ? 'page' : undefined}>
                    {n.label}
                  </a>
                ))}
              </nav>
            ) : null}
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
