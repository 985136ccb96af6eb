import type { Identity } from './auth/identity.js';
import type { CredentialService } from './services/credentials.js';
import type { GateService } from './services/gate.js';
import type { Provisioner } from './provisioner/provisioner.js';
import type { Sweeper } from './services/sweeper.js';

export interface Services {
  gate: GateService;
  credentials: CredentialService;
  provisioner: Provisioner;
  sweeper: Sweeper;
}

export interface AppEnv {
  Variables: {
    identity: Identity | null;
    services: Services;
    requestId: string;
    secureHeadersNonce?: string;
  };
}
