// Fresh passwords with their SCRAM verifiers, made ahead of need. PBKDF2 (4096 rounds of
// SHA-256) costs 1.5-4.5 ms of a core on the machines we run on; computed inside an issue it sits
// on the path to the password (the ALTER ROLE waits for the verifier) and competes for the CPU with
// the server's own PBKDF2 of that ALTER. Made between issues, it costs the issue nothing.
//
// A pair is only a random password and its verifier until an issue sets it on a role: it is
// handed out once (shift), never logged, never stored outside this process's memory, and lost
// with the process. When the supply is empty (a burst of issues), the pair is made on demand,
// as before.
import { generatePassword } from '../provisioner/password.js';
import { scramSha256Verifier } from '../provisioner/scram.js';

export interface FreshPassword {
  /** Shown once to the analyst; never stored or logged. */
  password: string;
  verifier: string;
}

export async function freshPassword(): Promise<FreshPassword> {
  const password = generatePassword();
  return { password, verifier: await scramSha256Verifier(password) };
}

export class PasswordSupply {
  private readonly ready: FreshPassword[] = [];
  private filling: Promise<void> | null = null;

  /** `size` pairs are kept ready (0 turns the supply off: every pair is made on demand). */
  constructor(
    private readonly size = 2,
    private readonly make: () => Promise<FreshPassword> = freshPassword,
  ) {}

  /** A pair nobody else gets: a ready one when there is one, else one made now. */
  take(): Promise<FreshPassword> {
    const pair = this.ready.shift();
    return pair ? Promise.resolve(pair) : this.make();
  }

  /**
   * Tops the supply up in the background. Called after an issue has answered (and at start), so
   * the work never competes with an issue's own path. A failure only means the next issue makes
   * its pair itself.
   */
  refill(): void {
    if (this.filling || this.ready.length >= this.size) return;
    const next = async (): Promise<void> => {
      while (this.ready.length < this.size) this.ready.push(await this.make());
    };
    this.filling = next()
      .catch(() => {})
      .finally(() => {
        this.filling = null;
      });
  }

  /** Resolves once no refill is running (benches wait for it so its work never lands on a floor). */
  idle(): Promise<void> {
    return this.filling ?? Promise.resolve();
  }

  /** How many pairs are ready now (tests, metrics). */
  get available(): number {
    return this.ready.length;
  }
}
