// What a sign-in, or a refresh with the issuer, changes beyond the session itself: the analyst
// record (and the groups it was given), and the end of a leaver's access. Someone who was an FDWG
// member and is not any more keeps no credential, no PII grant, no pending request and no other
// gate session; the session that showed it stays, to say "not admitted".
import type { Identity, Standing } from '../auth/identity.js';
import type { SessionStore } from '../auth/sessions.js';
import type { CredentialService } from '../credentials/service.js';
import type { GateService } from './service.js';

const sameGroups = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((g) => b.includes(g));

export class SignIns {
  constructor(
    private readonly gate: GateService,
    private readonly credentials: Pick<CredentialService, 'revokeIfNoLongerMember'>,
    private readonly sessions: Pick<SessionStore, 'endAllFor'>,
  ) {}

  /** A completed sign-in (session `sessionId`): recorded; a leaver's access ends. */
  async signedIn(identity: Identity, sessionId: string): Promise<Standing> {
    const { standing, wasAnalyst } = await this.gate.recordLogin(identity);
    if (!standing.member && wasAnalyst) await this.endAccessOfLeaver(identity, sessionId);
    return standing;
  }

  /** A refresh of session `sessionId` (an issuer that answers UserInfo live can say someone left). */
  async refreshed(before: Identity, after: Identity, sessionId: string): Promise<void> {
    if (sameGroups(before.groups, after.groups)) return;
    await this.gate.recordGroups(after);
    if (this.gate.standing(before).member && !this.gate.standing(after).member) await this.endAccessOfLeaver(after, sessionId);
  }

  private async endAccessOfLeaver(identity: Identity, keepSession: string): Promise<void> {
    await this.credentials.revokeIfNoLongerMember(identity);
    await this.sessions.endAllFor(identity.username, 'left_fdwg', 'system:gate', keepSession);
  }
}
