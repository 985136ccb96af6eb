// The page a refusal gets when it is more than an error: someone signed in without any FDWG
// standing sees which groups they are in and how to join (403), wherever they were refused so.
import type { Context } from 'hono';
import type { GuardOptions } from '../access/guard.js';
import type { AppConfig } from '../config.js';
import type { Policy } from '../policy/schema.js';
import type { AppEnv } from '../types.js';
import { pageContext } from './context.js';
import { NotAdmittedPage } from './pages.js';

export function notAdmittedPage(config: AppConfig, policy: Policy): NonNullable<GuardOptions['refused']> {
  return async (c: Context<AppEnv>, refusal) => {
    const identity = c.get('identity');
    if (refusal.code !== 'not_admitted' || !identity) return undefined;
    return c.html(
      <NotAdmittedPage {...await pageContext(c, config, 'Not admitted')} groups={identity.groups} memberGroups={policy.admission.member_groups} />,
      403,
    );
  };
}
