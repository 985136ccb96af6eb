// Fixed word lists for the demo data. Only plausible shapes matter, not realism of any one row.

export const FIRST_NAMES = [
  'Adam', 'Adrian', 'Aleksandra', 'Amit', 'Ana', 'Andrea', 'Anton', 'Ben', 'Carlos', 'Chen', 'Clement',
  'Dan', 'Daniel', 'David', 'Dominik', 'Elena', 'Emma', 'Eric', 'Fabio', 'Felix', 'Florian', 'Gordon',
  'Hans', 'Igor', 'Ines', 'Jakub', 'James', 'Jan', 'Jens', 'Jiri', 'Joe', 'Jonathan', 'Julia', 'Kamil',
  'Karolina', 'Kevin', 'Lukas', 'Maria', 'Marek', 'Mattia', 'Michal', 'Miro', 'Neal', 'Nils', 'Ondrej',
  'Pablo', 'Patrik', 'Pavel', 'Peter', 'Petr', 'Priya', 'Rafael', 'Rahul', 'Richard', 'Robert', 'Sandro',
  'Sara', 'Sergio', 'Simon', 'Stephen', 'Sumantro', 'Tomas', 'Troy', 'Vit', 'Yaakov', 'Zbigniew',
] as const;

export const SURNAMES = [
  'Adamski', 'Bauer', 'Berg', 'Bianchi', 'Blaha', 'Brown', 'Cerny', 'Costa', 'Dvorak', 'Eckert', 'Fischer',
  'Garcia', 'Gupta', 'Hansen', 'Horak', 'Ivanov', 'Jansen', 'Kaur', 'Keller', 'Kowalski', 'Kral', 'Kumar',
  'Larsen', 'Lopez', 'Marek', 'Martin', 'Meyer', 'Moreno', 'Mukherjee', 'Nakamura', 'Novak', 'Nowak',
  'Olsen', 'Pereira', 'Petrov', 'Pokorny', 'Quinn', 'Rossi', 'Ruiz', 'Sato', 'Schmidt', 'Silva', 'Singh',
  'Smith', 'Sokol', 'Svoboda', 'Tanaka', 'Torres', 'Urban', 'Vasquez', 'Vogel', 'Wagner', 'Walker', 'Wang',
  'Weber', 'Wong', 'Yilmaz', 'Zhang', 'Zima',
] as const;

/** Demo accounts that always exist; display names as in the dev OIDC issuer (src/dev/demo-accounts.ts). */
export const DEMO_ACCOUNTS = [
  { username: 'alice', fullName: 'Alice Analyst' },
  { username: 'bob', fullName: 'Bob Approver' },
  { username: 'carol', fullName: 'Carol Auditor' },
  { username: 'mallory', fullName: 'Mallory Packager' },
] as const;

/** Packages named as they are, plus stems that get an ecosystem prefix (python-, rust-, ...). */
export const PLAIN_PACKAGES = [
  'kernel', 'firefox', 'thunderbird', 'gnome-shell', 'mutter', 'gtk4', 'glib2', 'systemd', 'dnf5', 'rpm',
  'glibc', 'gcc', 'llvm', 'clang', 'binutils', 'bash', 'zsh', 'fish', 'vim', 'emacs', 'neovim', 'nano',
  'podman', 'buildah', 'skopeo', 'toolbox', 'flatpak', 'ostree', 'rpm-ostree', 'anaconda', 'lorax',
  'pipewire', 'wireplumber', 'mesa', 'xorg-x11-server', 'wayland', 'kwin', 'plasma-workspace', 'sddm',
  'gdm', 'NetworkManager', 'firewalld', 'selinux-policy', 'openssl', 'gnutls', 'nss', 'curl', 'wget2',
  'openssh', 'sudo', 'coreutils', 'util-linux', 'e2fsprogs', 'btrfs-progs', 'lvm2', 'grub2', 'shim',
  'dracut', 'python3.13', 'python3.14', 'ruby', 'perl', 'nodejs22', 'golang', 'rust', 'cargo', 'java-21-openjdk',
  'php', 'postgresql16', 'mariadb', 'redis', 'valkey', 'nginx', 'httpd', 'libreoffice', 'inkscape', 'gimp',
  'blender', 'krita', 'vlc', 'ffmpeg-free', 'gstreamer1', 'cups', 'sane-backends', 'bluez', 'fwupd', 'tuned',
] as const;

export const PACKAGE_STEMS: Record<string, readonly string[]> = {
  'python-': [
    'requests', 'urllib3', 'numpy', 'scipy', 'pandas', 'flask', 'django', 'sqlalchemy', 'pytest', 'setuptools',
    'pip', 'wheel', 'click', 'jinja2', 'pyyaml', 'cryptography', 'attrs', 'pydantic', 'httpx', 'rich', 'tox',
    'sphinx', 'docutils', 'pygments', 'babel', 'lxml', 'pillow', 'matplotlib', 'psycopg2', 'boto3', 'fedora-messaging',
    'koji', 'bodhi-client', 'rpmautospec', 'packaging', 'platformdirs', 'charset-normalizer', 'idna', 'certifi',
  ],
  'rust-': [
    'serde', 'serde_json', 'tokio', 'clap', 'anyhow', 'thiserror', 'regex', 'rand', 'syn', 'quote', 'proc-macro2',
    'libc', 'log', 'env_logger', 'futures', 'hyper', 'reqwest', 'chrono', 'time', 'itertools', 'bitflags', 'once_cell',
    'ripgrep', 'bat', 'fd-find', 'zoxide', 'cargo-c', 'uutils-coreutils', 'rpm-sequoia', 'sequoia-sq',
  ],
  'golang-': [
    'github-spf13-cobra', 'github-stretchr-testify', 'x-sys', 'x-net', 'x-crypto', 'github-google-uuid',
    'github-sirupsen-logrus', 'github-prometheus-client', 'k8s-apimachinery', 'github-containers-image',
  ],
  'perl-': [
    'Moose', 'DBI', 'DBD-Pg', 'JSON-XS', 'Test-Simple', 'libwww-perl', 'Try-Tiny', 'Module-Build', 'YAML-LibYAML',
    'DateTime', 'IO-Socket-SSL', 'Mojolicious',
  ],
  'nodejs-': ['typescript', 'esbuild', 'yarn', 'semver', 'undici', 'npm'],
  'ghc-': ['aeson', 'text', 'bytestring', 'lens', 'pandoc', 'megaparsec'],
  'texlive-': ['base', 'latex', 'beamer', 'biblatex', 'tikz'],
  'R-': ['ggplot2', 'dplyr', 'Rcpp', 'testthat', 'jsonlite', 'xml2', 'stringi', 'data.table'],
  'php-': ['symfony-console', 'phpunit10', 'composer-semver', 'twig3', 'guzzlehttp-guzzle'],
  'mingw-': ['gcc', 'binutils', 'qt6-qtbase', 'gtk3', 'openssl'],
};

export const RELEASES = [
  { name: 'F39', version: '39', dist: 'fc39', branch: 'f39', prefix: 'FEDORA' },
  { name: 'F40', version: '40', dist: 'fc40', branch: 'f40', prefix: 'FEDORA' },
  { name: 'F41', version: '41', dist: 'fc41', branch: 'f41', prefix: 'FEDORA' },
  { name: 'F42', version: '42', dist: 'fc42', branch: 'f42', prefix: 'FEDORA' },
  { name: 'F43', version: '43', dist: 'fc43', branch: 'f43', prefix: 'FEDORA' },
  { name: 'EPEL-9', version: '9', dist: 'el9', branch: 'epel9', prefix: 'FEDORA-EPEL' },
  { name: 'EPEL-10', version: '10', dist: 'el10', branch: 'epel10', prefix: 'FEDORA-EPEL' },
] as const;

export const FAS_GROUPS = ['packager', 'provenpackager', 'qa-tester', 'docs', 'design-team', 'infra-sig', 'python-sig'];

export const BODHI_COMMENTS = [
  'Works for me.',
  'Works for me on {release}, thanks!',
  'Tested on two machines, no regressions.',
  'Fixes the crash I reported, thank you {mention}.',
  'Breaks login on my laptop, see the journal output below.',
  'Karma reset: new build pushed.',
  'This update has reached 7 days in testing and can be pushed to stable now.',
  'Can confirm the fix. {mention} could you push it?',
  'Upgrade went fine, service restarts cleanly.',
  'Still seeing the font rendering issue from the previous build.',
  'Signed off after running the full test suite locally. -- {fullname}',
];

export const COMMIT_MESSAGES = [
  'Update to {version}',
  'Update to {version} (rhbz#{bug})',
  'Rebuilt for https://fedoraproject.org/wiki/Fedora_{releaseVersion}_Mass_Rebuild',
  'Fix FTBFS with GCC 14',
  'Convert license to SPDX',
  'Drop unused BuildRequires',
  'Backport upstream fix for CVE-{year}-{bug}',
  'Enable tests on all architectures',
  'Add gating.yaml',
];

export const DISCOURSE_TITLES = [
  'Fedora {releaseVersion} upgrade stuck at 100%',
  'dnf5 reports a conflicting requests error',
  'Wi-Fi stops working after suspend',
  'How to enable hardware video decoding?',
  'Proposal: retire orphaned packages earlier',
  'Test week for the new installer',
  'Secure boot fails after kernel update',
  'Welcome new packagers!',
];

export const DISCOURSE_POSTS = [
  'Same here on {release}, the workaround from the wiki did not help.',
  'I have the same problem since the last update. {mention} any ideas?',
  'Fixed by downgrading the package, thanks everyone.',
  'Please attach the output of journalctl -b.',
  'This is a known issue, there is a bug open for it.',
  'Thanks for the detailed write-up! -- {fullname}',
];

export const WIKI_PAGES = [
  'Changes/Python3.14',
  'Changes/DNF5_Default',
  'Changes/KDE_Plasma_6',
  'Releases/{releaseVersion}/Schedule',
  'Test_Results:Fedora_{releaseVersion}_Branched_Summary',
  'QA:Testcase_upgrade_dnf_current_workstation',
  'Packaging:Python',
  'SIGs/Python',
];

export const WIKI_SUMMARIES = ['', 'typo', 'update schedule', 'add test results', 'fix links', 'rewrite intro', 'my notes'];

export const KOJI_STATES = { BUILDING: 0, COMPLETE: 1, DELETED: 2, FAILED: 3, CANCELED: 4 } as const;

/** Accounts that act on the bus but are services, not people: kept as they are. */
export const SYSTEM_ACCOUNTS: ReadonlySet<string> = new Set(['bodhi', 'anitya']);
