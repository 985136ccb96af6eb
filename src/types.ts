import type { DenialLog } from './access/denials.js';
import type { Identity, Standing } from './auth/identity.js';
import type { CliLogins } from './auth/cli-login.js';
import type { SessionStore } from './auth/sessions.js';
import type { GateTokens } from './auth/tokens.js';
import type { CredentialService } from './credentials/service.js';
import type { GateService, GateStatus } from './admission/service.js';
import type { SignIns } from './admission/sign-ins.js';
import type { Provisioner } from './provisioner/provisioner.js';
import type { Sweeper } from './credentials/lease-sweeper.js';
import type { GrantSweeper } from './requests/grant-sweeper.js';
import type { PiiRequestService } from './requests/service.js';
import type { WebhookDispatcher } from './notify/dispatcher.js';
import type { Reconciler } from './reconcile/service.js';

export interface Services {
  gate: GateService;
  credentials: CredentialService;
  provisioner: Provisioner;
  sweeper: Sweeper;
  /** PII requests, reviews and grants (issue 4). */
  requests: PiiRequestService;
  /** Ends PII grants whose window closed, expires undecided requests, warns before the end. */
  grantSweeper: GrantSweeper;
  /** Delivers queued notifications; absent when no webhook is configured. */
  webhooks?: WebhookDispatcher;
  /** Policy as code (issue 3): plans and applies the warehouse grants as the gate's login. */
  reconciler: Reconciler;
  /** Server-side sign-in sessions (the cookie holds only a random token). */
  sessions: SessionStore;
  /** Gate-minted bearer tokens (ES256, keys in the control database). */
  tokens: GateTokens;
  /** Command-line sign-in: loopback codes and device codes. */
  cliLogins: CliLogins;
  /** Refused attempts on the access log, coalesced per person, action and minute. */
  denials: DenialLog;
  /** What a sign-in or a refresh changes: the analyst record, and a leaver's access ending. */
  signIns: SignIns;
}

export interface AppEnv {
  Variables: {
    identity: Identity | null;
    /** The gate session behind the cookie; null for bearer callers and the signed-out. */
    session: { id: string } | null;
    /** The gate token behind a bearer request; null for cookies and the signed-out. */
    token: { jti: string } | null;
    services: Services;
    /** Where the asker stands, computed once per request by the access guard (src/access/guard.ts). */
    access?: { standing: Standing; status?: Promise<GateStatus> };
    requestId: string;
    secureHeadersNonce?: string;
  };
}
