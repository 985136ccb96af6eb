// One generator per category, each producing the message body its real publisher sends
// (simplified), plus the usernames/packages/groups datanommer and the headers index.
import { ANITYA, capitalize, type Draft, FEDORA, type Scene, slug, uniq } from './scene.js';
import type { JsonObject } from './types.js';
import {
  BODHI_COMMENTS,
  COMMIT_MESSAGES,
  DISCOURSE_POSTS,
  DISCOURSE_TITLES,
  FAS_GROUPS,
  KOJI_STATES,
  WIKI_PAGES,
  WIKI_SUMMARIES,
} from './vocab.js';

function bodhi(s: Scene): Draft {
  const { prng } = s;
  const owner = s.user();
  const pkg = s.pkg();
  const rel = s.release();
  const nvr = `${pkg}-${s.version()}-1.${rel.dist}`;
  const update: JsonObject = {
    alias: `${rel.prefix}-${s.year()}-${prng.hex(10)}`,
    title: nvr,
    type: prng.pick(['bugfix', 'enhancement', 'security', 'newpackage']),
    status: 'testing',
    request: null,
    karma: prng.range(-1, 3),
    release: { name: rel.name, version: rel.version, branch: rel.branch },
    builds: [{ nvr, signed: true }],
    user: { name: owner.username },
  };
  const source = ['bodhi', '8.2.1'] as const;
  const roll = prng.next();
  if (roll < 0.55) {
    const commenter = s.user();
    const text = s.fill(prng.pick(BODHI_COMMENTS), commenter, { release: rel.name });
    return {
      topic: `${FEDORA}bodhi.update.comment`,
      agent: commenter.username,
      source,
      schema: 'bodhi.update.comment.v1',
      msg: {
        comment: {
          id: prng.range(1_000_000, 4_000_000),
          karma: prng.pick([-1, 0, 0, 1, 1, 1]),
          text,
          timestamp: s.iso,
          update_alias: update.alias as string,
          user: { name: commenter.username },
        },
        update,
        agent: commenter.username,
      },
      users: uniq([commenter.username, owner.username]),
      packages: [pkg],
    };
  }
  if (roll < 0.85) {
    const target = roll < 0.72 ? 'testing' : 'stable';
    update.request = target;
    update.status = target === 'testing' ? 'pending' : 'testing';
    return {
      topic: `${FEDORA}bodhi.update.request.${target}`,
      agent: owner.username,
      source,
      schema: `bodhi.update.request.${target}.v1`,
      msg: { update, agent: owner.username },
      users: [owner.username],
      packages: [pkg],
      groups: ['packager'],
    };
  }
  update.status = 'stable';
  return {
    topic: `${FEDORA}bodhi.update.complete.stable`,
    agent: null,
    source,
    schema: 'bodhi.update.complete.stable.v1',
    msg: { update, agent: 'bodhi' },
    users: [owner.username],
    packages: [pkg],
  };
}

function buildsys(s: Scene): Draft {
  const { prng } = s;
  const owner = s.user();
  const name = s.pkg();
  const rel = s.release();
  const base = {
    build_id: prng.range(2_300_000, 2_900_000),
    name,
    version: s.version(),
    release: `1.${rel.dist}`,
    epoch: null,
    instance: 'primary',
    owner: owner.username,
  };
  const source = ['koji', '1.35.1'] as const;
  if (prng.chance(0.7)) {
    const outcome = prng.next();
    const next = outcome < 0.85 ? KOJI_STATES.COMPLETE : outcome < 0.95 ? KOJI_STATES.FAILED : KOJI_STATES.CANCELED;
    return {
      topic: `${FEDORA}buildsys.build.state.change`,
      agent: owner.username,
      source,
      schema: 'koji_fedoramessaging.build.BuildStateChangeV1',
      msg: {
        ...base,
        attribute: 'state',
        old: KOJI_STATES.BUILDING,
        new: next,
        task_id: prng.range(110_000_000, 140_000_000),
        request: [`git+https://src.fedoraproject.org/rpms/${name}.git#${prng.hex(40)}`, `${rel.branch}-candidate`, {}],
      },
      users: [owner.username],
      packages: [name],
    };
  }
  const tagger = s.user();
  const action = prng.chance(0.7) ? 'tag' : 'untag';
  return {
    topic: `${FEDORA}buildsys.${action}`,
    agent: tagger.username,
    source,
    schema: `koji_fedoramessaging.tag.${capitalize(action)}V1`,
    msg: { ...base, tag: `${rel.branch}-updates-candidate`, tag_id: prng.range(60_000, 70_000), user: tagger.username },
    users: uniq([tagger.username, owner.username]),
    packages: [name],
  };
}

// The commit author e-mail is often not the account's @fedoraproject.org address.
function git(s: Scene): Draft {
  const { prng } = s;
  const u = s.user();
  const repo = s.pkg();
  const rel = s.release();
  const version = s.version();
  let message = s.fill(prng.pick(COMMIT_MESSAGES), u, { version, releaseVersion: rel.version });
  const [first, last] = u.fullName.toLowerCase().split(' ');
  const email = prng.chance(0.7) ? u.email : `${first}.${last}@${prng.pick(['example.com', 'example.org', 'example.net'])}`;
  if (prng.chance(0.3)) message += `\n\nSigned-off-by: ${u.fullName} <${email}>`;
  const additions = prng.range(1, 40);
  const deletions = prng.range(0, 20);
  return {
    topic: `${FEDORA}git.receive`,
    agent: u.username,
    source: ['pagure', '5.14.1'],
    schema: 'pagure.git.receive',
    msg: {
      commit: {
        agent: u.username,
        username: u.username,
        name: u.fullName,
        email,
        repo,
        namespace: 'rpms',
        branch: prng.chance(0.6) ? 'rawhide' : rel.branch,
        rev: prng.hex(40),
        path: `/srv/git/repositories/rpms/${repo}.git`,
        message,
        summary: message.split('\n')[0] as string,
        stats: {
          files: { [`${repo}.spec`]: { additions, deletions, lines: additions + deletions } },
          total: { additions, deletions, files: 1, lines: additions + deletions },
        },
        seen: false,
      },
    },
    users: [u.username],
    packages: [repo],
  };
}

function fas(s: Scene): Draft {
  const { prng } = s;
  const u = s.user();
  const source = ['noggin', '1.10.0'] as const;
  const roll = prng.next();
  if (roll < 0.6) {
    const fields = ['timezone', 'locale', 'ircnick', 'gpgkeys', 'website'].filter(() => prng.chance(0.4));
    return {
      topic: `${FEDORA}fas.user.update`,
      agent: u.username,
      source,
      schema: 'noggin.user.update.v1',
      msg: { msg: { agent: u.username, user: u.username, fields: fields.length > 0 ? fields : ['timezone'] } },
      users: [u.username],
      packages: [],
    };
  }
  if (roll < 0.85) {
    const sponsor = s.user();
    const group = prng.pick(FAS_GROUPS);
    return {
      topic: `${FEDORA}fas.group.member.sponsor`,
      agent: sponsor.username,
      source,
      schema: 'noggin.group.member.sponsor.v1',
      msg: { msg: { agent: sponsor.username, user: u.username, group } },
      users: uniq([sponsor.username, u.username]),
      packages: [],
      groups: [group],
    };
  }
  return {
    topic: `${FEDORA}fas.user.create`,
    agent: u.username,
    source,
    schema: 'noggin.user.create.v1',
    msg: { msg: { user: u.username } },
    users: [u.username],
    packages: [],
  };
}

function wiki(s: Scene): Draft {
  const { prng } = s;
  const u = s.user();
  // MediaWiki capitalises the first letter of page titles, so user pages read "User:Alice".
  const title = prng.chance(0.25)
    ? `User:${capitalize(u.username)}${prng.chance(0.5) ? '/Drafts' : ''}`
    : s.fill(prng.pick(WIKI_PAGES), u, { releaseVersion: s.release().version });
  const revid = prng.range(600_000, 700_000);
  const parentid = revid - prng.range(1, 500);
  return {
    topic: `${FEDORA}wiki.article.edit`,
    agent: u.username,
    source: ['mediawiki', '1.39.7'],
    schema: 'mediawiki.article.edit',
    msg: {
      title,
      user: u.username,
      minor_edit: prng.chance(0.3),
      summary: prng.pick(WIKI_SUMMARIES),
      revision: { revid, parentid },
      url: wikiUrl(title, revid, parentid),
    },
    users: [u.username],
    packages: [],
  };
}

export function wikiUrl(title: string, revid: number, parentid: number): string {
  return `https://fedoraproject.org/w/index.php?title=${title.replace(/ /g, '_')}&diff=${revid}&oldid=${parentid}`;
}

function anitya(s: Scene): Draft {
  const { prng } = s;
  const pkg = s.pkg();
  const upstream = pkg.replace(/^(python|rust|golang|perl|nodejs|ghc|texlive|R|php|mingw)-/, '');
  const ecosystem = pkg.startsWith('python-') ? 'pypi' : pkg.startsWith('rust-') ? 'crates.io' : 'https://github.com';
  const project = {
    id: prng.range(1, 400_000),
    name: upstream,
    ecosystem,
    backend: ecosystem === 'pypi' ? 'PyPI' : ecosystem === 'crates.io' ? 'crates.io' : 'GitHub',
    homepage: ecosystem === 'pypi' ? `https://pypi.org/project/${upstream}` : `https://github.com/${upstream}/${upstream}`,
  };
  const source = ['anitya', '2.0.1'] as const;
  if (prng.chance(0.85)) {
    const oldVersion = s.version();
    const newVersion = s.version();
    return {
      topic: `${ANITYA}project.version.update.v2`,
      agent: null,
      source,
      schema: 'anitya.project.version.update.v2',
      msg: {
        project: { ...project, version: newVersion },
        message: {
          agent: 'anitya',
          project: upstream,
          old_version: oldVersion,
          upstream_versions: [newVersion],
          packages: [{ distro: 'Fedora', package_name: pkg }],
          odd_change: false,
        },
        distro: null,
      },
      users: [],
      packages: [pkg],
    };
  }
  const editor = s.user();
  return {
    topic: `${ANITYA}project.edit`,
    agent: editor.username,
    source,
    schema: 'anitya.project.edit',
    msg: {
      project,
      message: { agent: editor.username, project: upstream, changes: { backend: ['custom', project.backend] } },
    },
    users: [editor.username],
    packages: [pkg],
  };
}

function discourse(s: Scene): Draft {
  const { prng } = s;
  const u = s.user();
  const rel = s.release();
  const title = s.fill(prng.pick(DISCOURSE_TITLES), u, { releaseVersion: rel.version });
  const person = {
    username: u.username,
    name: u.fullName,
    avatar_template: `/user_avatar/discussion.fedoraproject.org/${u.username}/{size}/${prng.range(1000, 99999)}_2.png`,
  };
  const topicId = prng.range(100_000, 160_000);
  const source = ['discourse2fedmsg', '0.4.0'] as const;
  const event = prng.chance(0.7) ? 'post_created' : 'topic_created';
  const headers = {
    'X-Discourse-Instance': 'https://discussion.fedoraproject.org',
    'X-Discourse-Event': event,
    'X-Discourse-Event-Type': event === 'post_created' ? 'post' : 'topic',
  };
  if (event === 'post_created') {
    return {
      topic: `${FEDORA}discourse.post.post_created`,
      agent: u.username,
      source,
      schema: 'discourse2fedmsg.post_created',
      msg: {
        webhook_body: {
          post: {
            ...person,
            id: prng.range(500_000, 900_000),
            created_at: s.iso,
            raw: s.fill(prng.pick(DISCOURSE_POSTS), u, { release: rel.name }),
            post_number: prng.range(2, 40),
            topic_id: topicId,
            topic_slug: slug(title),
            topic_title: title,
            category_id: prng.range(1, 120),
          },
        },
        webhook_headers: headers,
      },
      users: [u.username],
      packages: [],
    };
  }
  return {
    topic: `${FEDORA}discourse.topic.topic_created`,
    agent: u.username,
    source,
    schema: 'discourse2fedmsg.topic_created',
    msg: {
      webhook_body: {
        topic: {
          id: topicId,
          title,
          slug: slug(title),
          created_at: s.iso,
          category_id: prng.range(1, 120),
          tags: [prng.pick([rel.branch, 'dnf', 'kernel', 'wifi', 'upgrade'])],
          created_by: person,
        },
      },
      webhook_headers: headers,
    },
    users: [u.username],
    packages: [],
  };
}

/** Cumulative category weights, roughly the real bus mix minus the noisiest bots. */
export const CATEGORIES: ReadonlyArray<readonly [number, (s: Scene) => Draft]> = [
  [0.3, buildsys],
  [0.52, bodhi],
  [0.72, git],
  [0.82, anitya],
  [0.89, fas],
  [0.95, wiki],
  [1, discourse],
];

