// The people and packages of the demo warehouse.
import type { Prng } from './prng.js';
import type { DemoPackage, DemoUser } from './types.js';
import {
  DEMO_ACCOUNTS,
  DISCOURSE_TITLES,
  FAS_GROUPS,
  FIRST_NAMES,
  PACKAGE_STEMS,
  PLAIN_PACKAGES,
  RELEASES,
  SURNAMES,
  WIKI_PAGES,
} from './vocab.js';

export const USER_COUNT = 500;

/** Lowercase alphanumeric runs: the unit a leak check compares usernames against. */
export function tokens(text: string): string[] {
  return text.toLowerCase().split(/[^a-z0-9]+/).filter((t) => t !== '');
}

// Words that the pseudonymized tier keeps (topics, JSON keys, package names, titles ...). A
// generated username equal to one of them would make "no username appears in the
// pseudonymized tables" untestable, so such usernames are never generated.
const FIXED_WORDS = [
  'org fedoraproject release monitoring prod stg bodhi buildsys git fas wiki anitya discourse koji',
  'update comment request testing stable complete build state change tag untag receive user create',
  'group member sponsor article edit project version post created topic agent owner name username',
  'alias title status release builds nvr karma text timestamp commit repo namespace rpms branch rev',
  'path stats files total additions deletions lines seen message email summary url minor revision',
  'revid parentid fields locale timezone webhook body headers instance task attribute epoch new old',
  'upstream versions packages distro fedora ecosystem homepage backend pypi crates github primary',
  'messaging schema severity priority sent rawhide u main master https http www w index php diff',
];

function reservedTokens(packages: readonly string[]): Set<string> {
  const texts = [...FIXED_WORDS, ...packages, ...FAS_GROUPS, ...DISCOURSE_TITLES, ...WIKI_PAGES];
  for (const r of RELEASES) texts.push(r.name, r.dist, r.branch, r.prefix);
  return new Set(texts.flatMap(tokens));
}

function ascii(s: string): string {
  return s.toLowerCase().replace(/[^a-z]/g, '');
}

export function makePackages(prng: Prng): DemoPackage[] {
  const names: string[] = [...PLAIN_PACKAGES];
  for (const [prefix, stems] of Object.entries(PACKAGE_STEMS)) for (const s of stems) names.push(prefix + s);
  // Shuffle so that the skewed "popularity" pick does not favour one ecosystem.
  for (let i = names.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [names[i], names[j]] = [names[j] as string, names[i] as string];
  }
  return names.map((name, i) => ({ id: i + 1, name }));
}

export function makeUsers(prng: Prng, packages: readonly DemoPackage[], count = USER_COUNT): DemoUser[] {
  const reserved = reservedTokens(packages.map((p) => p.name));
  const users: DemoUser[] = [];
  const taken = new Set<string>();
  const add = (username: string, fullName: string) => {
    taken.add(username);
    users.push({ id: users.length + 1, username, fullName, email: `${username}@fedoraproject.org` });
  };
  for (const d of DEMO_ACCOUNTS) add(d.username, d.fullName);

  while (users.length < count) {
    const first = prng.pick(FIRST_NAMES);
    const last = prng.pick(SURNAMES);
    const f = ascii(first);
    const l = ascii(last);
    const shapes = [
      () => f[0] + l, // jsmith
      () => f + l[0], // kevins
      () => f[0] + String.fromCharCode(97 + prng.int(26)) + l, // pbrobinson
      () => l + f[0], // smithj
      () => f + String(prng.range(10, 99)), // kevin42
      () => f + l, // kevinsmith
    ];
    const username = prng.pick(shapes)();
    // Pure-hex names could equal a fragment of a UUID, hash or pseudonym by chance.
    const acceptable =
      /^[a-z][a-z0-9]{2,15}$/.test(username) && !/^[a-f0-9]+$/.test(username) && !reserved.has(username);
    if (acceptable && !taken.has(username)) add(username, `${first} ${last}`);
  }
  return users;
}
