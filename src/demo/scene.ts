// Shared pieces of the per-category generators: the context, the per-message Scene helper
// and the Draft each generator returns.
import type { Prng } from './prng.js';
import type { DemoPackage, DemoUser, JsonObject } from './types.js';
import { RELEASES } from './vocab.js';

export const FEDORA = 'org.fedoraproject.prod.';
export const ANITYA = 'org.release-monitoring.prod.anitya.';

export interface GeneratorContext {
  prng: Prng;
  users: readonly DemoUser[];
  packages: readonly DemoPackage[];
  total: number;
}

export interface Draft {
  topic: string;
  agent: string | null;
  source: readonly [name: string, version: string];
  schema: string;
  msg: JsonObject;
  users: string[];
  packages: string[];
  groups?: string[];
}

/** Per-message helpers: who/what is involved, and template filling. */
export class Scene {
  constructor(
    readonly ctx: GeneratorContext,
    /** The message time as ISO 8601 with an explicit UTC offset, as publishers send it. */
    readonly iso: string,
  ) {}
  get prng(): Prng {
    return this.ctx.prng;
  }
  /** Users are picked by rank: the first (the demo accounts) are among the most active. */
  user(): DemoUser {
    return this.ctx.users[this.prng.skewed(this.ctx.users.length)] as DemoUser;
  }
  pkg(): string {
    return (this.ctx.packages[this.prng.skewed(this.ctx.packages.length, 1.8)] as DemoPackage).name;
  }
  release() {
    return this.prng.pick(RELEASES);
  }
  version(): string {
    return `${this.prng.range(0, 9)}.${this.prng.range(0, 30)}.${this.prng.range(0, 15)}`;
  }
  year(): string {
    return this.iso.slice(0, 4);
  }
  /** Fill {placeholders}; {mention} names some other user, as people do in free text. */
  fill(template: string, author: DemoUser, vars: Record<string, string> = {}): string {
    return template.replace(/\{(\w+)\}/g, (_, key: string) => {
      if (key === 'mention') return `@${this.user().username}`;
      if (key === 'fullname') return author.fullName;
      if (key === 'bug') return String(this.prng.range(2_200_000, 2_400_000));
      if (key === 'year') return this.year();
      return vars[key] ?? key;
    });
  }
}

export const uniq = (xs: string[]) => [...new Set(xs)];
export const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
export const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
