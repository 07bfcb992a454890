// `latchkey image` on a realistic Raspberry Pi OS image built here: an MBR file with a FAT32 boot
// partition (config.txt, cmdline.txt) and an ext4 root, made with sfdisk, mkfs.vfat --offset and
// mke2fs -d, without root or loop devices. The result is read back with mtools, its cloud-init files
// checked by Debian's cloud-init, its FAT checked by fsck.vfat, and the base compared byte for byte.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../agent/config.js';
import { cli, FAST_ENV, PASSWORD, problems, tempDir } from '../testCli.js';
import { Fat } from './mtools.js';

const TOOLS = ['sfdisk', 'mkfs.vfat', 'mke2fs', 'mcopy', 'fsck.vfat', 'cloud-init'];
const where = (t: string) => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].find((d) => existsSync(`${d}/${t}`));
const missing = TOOLS.filter((t) => !where(t));
if (missing.length > 0 && process.env.CI)
  throw new Error(
    `missing ${missing.join(', ')}: install Debian's fdisk dosfstools e2fsprogs mtools cloud-init`,
  );

const SECTOR = 512;
const BOOT_START = 8192;
const BOOT_SECTORS = 81_920; // 40 MiB: a FAT32 needs 65,525 clusters, so -s 1
const ROOT_SECTORS = 32_768;

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(where(cmd) ? `${where(cmd)}/${cmd}` : cmd, args, {
    encoding: 'utf8',
    ...(input ? { input } : {}),
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** A small Raspberry Pi OS look-alike: MBR, FAT32 bootfs with the firmware's config files, ext4 rootfs. */
function makeBase(file: string, dir: string, opts: { raspios?: boolean; bootSectors?: number } = {}): void {
  const bootSectors = opts.bootSectors ?? BOOT_SECTORS;
  const rootStart = BOOT_START + bootSectors;
  writeFileSync(file, '');
  run('truncate', ['-s', String((rootStart + ROOT_SECTORS) * SECTOR), file]);
  run(
    'sfdisk',
    ['--quiet', file],
    `label: dos\nstart=${BOOT_START}, size=${bootSectors}, type=c\nstart=${rootStart}, size=${ROOT_SECTORS}, type=83\n`,
  );
  run('mkfs.vfat', [
    '-F',
    '32',
    '-s',
    '1',
    '-n',
    'bootfs',
    '--offset',
    String(BOOT_START),
    file,
    String(bootSectors / 2),
  ]);
  if (opts.raspios !== false) {
    writeFileSync(`${dir}/config.txt`, '[all]\narm_64bit=1\n');
    writeFileSync(
      `${dir}/cmdline.txt`,
      'console=serial0,115200 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n',
    );
    for (const f of ['config.txt', 'cmdline.txt'])
      run('mcopy', ['-i', `${file}@@${BOOT_START * SECTOR}`, `${dir}/${f}`, `::/${f}`]);
  }
  const root = `${dir}/rootfs`;
  mkdirSync(`${root}/etc`, { recursive: true });
  writeFileSync(`${root}/etc/os-release`, 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\n');
  run('mke2fs', [
    '-q',
    '-t',
    'ext4',
    '-d',
    root,
    '-E',
    `offset=${rootStart * SECTOR}`,
    file,
    `${ROOT_SECTORS / 2}k`,
  ]);
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

let tmp: ReturnType<typeof tempDir>;
let base: string;
let configFile: string;
let sshKey: string;
let tarball: string;

beforeAll(async () => {
  if (missing.length > 0) return;
  tmp = tempDir();
  base = tmp.path('raspios.img');
  makeBase(base, tmp.dir);
  const keystore = tmp.path('gateway.json');
  expect((await cli(['keygen', '--out', keystore], FAST_ENV)).code).toBe(0);
  configFile = tmp.path('config.json');
  const c = await cli(
    [
      'config',
      '--rpc',
      'https://rpc.example',
      '--contract',
      '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      '--chain-id',
      '100',
      '--gateway-id',
      'front-door',
      '--keystore',
      keystore,
      '--device',
      '1:lock',
      '--out',
      configFile,
    ],
    FAST_ENV,
  );
  expect(c.code, c.stderr).toBe(0);
  sshKey = tmp.path('id.pub');
  writeFileSync(
    sshKey,
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3vN8hWlzq0Qq3+Wm5Wm0cXq3p2r4XrZ0yJm6p5t7K host@laptop\n',
  );
  // a stand-in release tarball: the real `npm pack` is exercised by the test that builds one
  tarball = tmp.path('latchkey-0.1.0.tgz');
  writeFileSync(tarball, Buffer.alloc(300_000, 7));
}, 120_000);
afterAll(() => tmp?.remove());

const args = (out: string, extra: string[] = []) => [
  'image',
  '--base',
  base,
  '--out',
  out,
  '--config',
  configFile,
  '--hostname',
  'front-door',
  '--ssh-key',
  sshKey,
  '--wifi-ssid',
  'Home "5G"',
  '--wifi-country',
  'DE',
  '--tarball',
  tarball,
  ...extra,
];
const env = { ...FAST_ENV, LATCHKEY_WIFI_PASSWORD: 'wifi secret 1' };

describe.skipIf(missing.length > 0)(`latchkey image (needs ${TOOLS.join(', ')})`, () => {
  it('writes the first-boot files into the boot partition of a copy; the base is unchanged', {
    timeout: 120_000,
  }, async () => {
    const before = sha(base);
    const out = tmp.path('gateway.img');
    const r = await cli(args(out), env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/copying raspios\.img \[#+\] 100%/);
    expect(sha(base)).toBe(before);
    expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const boot = new Fat(out, BOOT_START * SECTOR);
    for (const f of ['config.txt', 'cmdline.txt', 'user-data', 'network-config', 'meta-data'])
      expect(boot.has(f), f).toBe(true);
    const userData = boot.read('user-data').toString();
    const networkConfig = boot.read('network-config').toString();
    writeFileSync(tmp.path('user-data'), userData);
    writeFileSync(tmp.path('network-config'), networkConfig);
    const schema = spawnSync('cloud-init', ['schema', '--config-file', tmp.path('user-data')], {
      encoding: 'utf8',
    });
    expect(schema.status, schema.stdout + schema.stderr).toBe(0);
    expect(schema.stdout).toMatch(/Valid cloud-config/);
    expect(userData).toContain('hostname: "front-door"');
    expect(userData).toContain('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5');
    expect(userData).toContain('npm install --global --omit=dev');
    // network-config parsed and rendered by cloud-init as network config v2 (netplan keeps wifis as
    // given; Debian's cloud-init 22.4 renders no Wi-Fi for NetworkManager, newer ones do)
    mkdirSync(tmp.path('net'));
    const convert = ['devel', 'net-convert', '-p', tmp.path('network-config'), '-k', 'yaml'];
    run('cloud-init', [...convert, '-d', tmp.path('net'), '-D', 'debian', '-O', 'netplan']);
    const rendered = readdirSync(tmp.path('net'), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => readFileSync(tmp.path(`net/${f}`), 'utf8'))
      .join('\n');
    expect(rendered).toMatch(/wifis:\s+wlan0:/);
    expect(rendered).toContain('Home "5G"');
    expect(rendered).toContain('wifi secret 1');
    expect(rendered).toContain('regulatory-domain: DE');
    expect(boot.read('meta-data').toString()).toMatch(
      /^instance-id: "latchkey-front-door-[0-9a-f]{8}"\nlocal-hostname: "front-door"\n$/,
    );

    const config = JSON.parse(boot.read('latchkey/config.json').toString());
    expect(config.gatewayKeystore).toBe('/var/lib/latchkey/gateway.json');
    expect(config.dataDir).toBe('/var/lib/latchkey/data');
    writeFileSync(tmp.path('gw.json'), boot.read('latchkey/gateway.json'), { mode: 0o600 });
    const parsed = parseConfig(
      { ...config, gatewayKeystore: tmp.path('gw.json') },
      { LATCHKEY_KEY_PASSWORD: PASSWORD },
    );
    expect(parsed.gatewayId).toBe('front-door');
    expect(boot.read('latchkey/key-password').toString()).toBe(`${PASSWORD}\n`);
    expect(boot.read('latchkey/latchkey.service').toString()).toContain(
      'LoadCredential=key-password:/etc/latchkey/key-password',
    );
    expect(boot.read('latchkey/latchkey-0.1.0.tgz').equals(readFileSync(tarball))).toBe(true);

    // the FAT is clean: check the partition on its own (fsck.vfat takes no offset)
    const part = tmp.path('boot.part');
    run('dd', [
      `if=${out}`,
      `of=${part}`,
      `bs=${SECTOR}`,
      `skip=${BOOT_START}`,
      `count=${BOOT_SECTORS}`,
      'status=none',
    ]);
    const fsck = spawnSync(`${where('fsck.vfat')}/fsck.vfat`, ['-n', part], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout).toBe(0);
    expect(fsck.stdout).not.toMatch(/differ|dirty|fix|error/i);

    const again = await cli(args(out), env);
    expect(again.code).toBe(2);
    expect(problems(again.stderr)).toContain(`--out: ${out} already exists (--force replaces it)`);
  });

  it('writes the same files into a folder with --dir', async () => {
    const dir = tmp.path('bootfiles');
    const r = await cli(
      [
        'image',
        '--dir',
        dir,
        '--config',
        configFile,
        '--hostname',
        'gw2',
        '--ssh-key',
        sshKey,
        '--tarball',
        tarball,
      ],
      FAST_ENV,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(`${dir}/network-config`, 'utf8')).not.toContain('wifis');
    expect(existsSync(`${dir}/latchkey/latchkey.service`)).toBe(true);
  });

  it('refuses bad base images with the reason and leaves no output', async () => {
    const cases: [string, (file: string) => void, RegExp][] = [
      [
        'not-a-disk.img',
        (f) => writeFileSync(f, Buffer.alloc(1 << 20, 1)),
        /is not a disk image with an MBR partition table/,
      ],
      [
        'linux-first.img',
        (f) => {
          writeFileSync(f, '');
          run('truncate', ['-s', '8M', f]);
          run('sfdisk', ['--quiet', f], 'label: dos\nstart=2048, type=83\n');
        },
        /the first partition \(type 0x83\) is not a FAT boot partition/,
      ],
      [
        'gpt.img',
        (f) => {
          writeFileSync(f, '');
          run('truncate', ['-s', '8M', f]);
          run('sfdisk', ['--quiet', f], 'label: gpt\nstart=2048, type=L\n');
        },
        /has a GPT partition table/,
      ],
      ['not-raspios.img', (f) => makeBase(f, tmp.dir, { raspios: false }), /not a Raspberry Pi OS image/],
    ];
    for (const [name, make, reason] of cases) {
      const file = tmp.path(name);
      make(file);
      const out = tmp.path(`${name}.out`);
      const r = await cli(
        args(out).map((a) => (a === base ? file : a)),
        env,
      );
      expect(r.code, name).toBe(2);
      expect(problems(r.stderr).join('\n'), name).toMatch(reason);
      expect(existsSync(out), name).toBe(false);
    }
  }, 60_000);

  it('says when the boot partition has no room, leaving no output', { timeout: 60_000 }, async () => {
    const small = tmp.path('small.img');
    makeBase(small, tmp.dir, { bootSectors: 70_000 });
    const big = tmp.path('latchkey-9.9.9.tgz');
    writeFileSync(big, Buffer.alloc(40 << 20, 1));
    const out = tmp.path('small.out');
    const r = await cli(
      args(out).map((a) => (a === base ? small : a === tarball ? big : a)),
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /the boot partition has no room: the gateway files need [0-9]+ bytes, [0-9]+ are free/,
    );
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
