// `latchkey image`: a flashable gateway image from a Raspberry Pi OS image, or the same files in a
// folder: cloud-init first-boot files, the agent release, its config, keystore and password, and the
// systemd unit, written into the FAT boot partition with mtools (no mount, no root). The base image
// is read only; the output is built in a temporary file and renamed into place when complete.

import { randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseConfig } from '../../agent/config.js';
import { LatchkeyError } from '../../agent/errors.js';
import { type CliIo, type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { bootFiles, packRelease } from '../image/build.js';
import { BOOT_SUBDIR } from '../image/cloudInit.js';
import { bootPartition, ImageError } from '../image/disk.js';
import { Fat, missingMtools } from '../image/mtools.js';
import { checkOutputs, writeOutputs } from '../outputFiles.js';
import { PASSWORD_ENV, passwordProblem, readPassword } from '../password.js';
import { progressBar } from '../progress.js';

export const WIFI_PASSWORD_ENV = 'LATCHKEY_WIFI_PASSWORD';

const FLAGS = {
  base: {
    type: 'string',
    value: '<raspios.img>',
    help: 'Raspberry Pi OS (Trixie) Lite image to start from (read only)',
  },
  out: { type: 'string', value: '<gateway.img>', help: 'the image to write (with --base)' },
  dir: {
    type: 'string',
    value: '<folder>',
    help: 'instead of an image: write the boot-partition files into a folder',
  },
  config: {
    type: 'string',
    required: true,
    value: '<file>',
    help: 'the agent config from `latchkey config`',
  },
  keystore: {
    type: 'string',
    value: '<file>',
    help: 'the gateway keystore (default: the one the config names)',
  },
  hostname: { type: 'string', required: true, value: '<name>', help: "the gateway's host name" },
  'ssh-key': {
    type: 'string',
    required: true,
    value: '<file>',
    help: 'public SSH key(s) allowed to log in as the admin user',
  },
  'admin-user': { type: 'string', value: '<name>', help: 'the login user with sudo (default admin)' },
  'wifi-ssid': {
    type: 'string',
    value: '<ssid>',
    help: `Wi-Fi network (password from ${WIFI_PASSWORD_ENV} or asked)`,
  },
  'wifi-country': {
    type: 'string',
    value: '<CC>',
    help: 'Wi-Fi country code, e.g. DE (required with --wifi-ssid)',
  },
  timezone: { type: 'string', value: '<zone>', help: 'time zone (default UTC)' },
  ntp: { type: 'string', multiple: true, value: '<server>', help: 'time servers (default: the OS pool)' },
  tarball: {
    type: 'string',
    value: '<file>',
    help: 'the agent release (default: npm pack of this checkout)',
  },
  force: { type: 'boolean', help: 'replace --out or the files in --dir' },
} as const;

const HOSTNAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

async function copyWithProgress(io: CliIo, from: string, to: string, size: number): Promise<void> {
  const bar = progressBar(io, `copying ${basename(from)}`);
  let done = 0;
  const read = createReadStream(from, { highWaterMark: 1 << 20 });
  read.on('data', (chunk) => {
    done += chunk.length;
    bar.update(done / size);
  });
  await pipeline(read, createWriteStream(to, { flags: 'wx', mode: 0o644 }));
  bar.done();
}

export const image: Command = {
  name: 'image',
  summary: 'a flashable Raspberry Pi gateway image (or its boot files in a folder)',
  help: () =>
    renderHelp(
      'latchkey image (--base <raspios.img> --out <gateway.img> | --dir <folder>) --config <file>\n' +
        '         --hostname <name> --ssh-key <file> [--wifi-ssid <ssid> --wifi-country <CC>] [--keystore <file>]\n' +
        '         [--admin-user admin] [--timezone UTC] [--ntp <server> ...] [--tarball <file>] [--force]',
      "Writes cloud-init user-data, network-config and meta-data into the image's FAT boot partition, and\n" +
        `in ${BOOT_SUBDIR}/ the agent release, its config, keystore, key password and systemd unit. On first boot\n` +
        'Raspberry Pi OS (Trixie) reads them: it installs Node.js from the OS, the agent from the tarball, makes\n' +
        'the latchkey user, moves the secrets off the boot partition and starts the service. Without mounting\n' +
        'and without root (mtools). The base image is never changed.',
      FLAGS,
      `Environment:
  ${PASSWORD_ENV}   the keystore password (checked here; the gateway gets it as a credential)
  ${WIFI_PASSWORD_ENV}  the Wi-Fi password; asked on the terminal when unset`,
    ),
  async run(argv, io) {
    const { values: v, problems: p } = parseFlags(argv, FLAGS);
    if ((v.base === undefined) === (v.dir === undefined)) p.push('give either --base with --out, or --dir');
    if (v.base !== undefined && v.out === undefined) p.push('missing --out');
    if (v.dir !== undefined && v.out !== undefined) p.push('--out goes with --base, not with --dir');
    if (v.hostname !== undefined && !HOSTNAME.test(v.hostname))
      p.push(`--hostname: not a host name: ${v.hostname}`);
    if ((v['wifi-ssid'] === undefined) !== (v['wifi-country'] === undefined))
      p.push('--wifi-ssid and --wifi-country go together');
    if (v['wifi-country'] !== undefined && !/^[A-Z]{2}$/.test(v['wifi-country']))
      p.push(`--wifi-country: expected a two-letter country code like DE, got ${v['wifi-country']}`);
    if (v['wifi-ssid'] !== undefined && !io.env[WIFI_PASSWORD_ENV] && !io.askSecret)
      p.push(`no Wi-Fi password: set ${WIFI_PASSWORD_ENV} or run on a terminal to be asked`);
    const readable = (file: string | undefined, flag: string): Buffer | undefined => {
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (e) {
        p.push(`${flag}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
        return undefined;
      }
    };
    const sshKeys = (readable(v['ssh-key'], '--ssh-key')?.toString() ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    if (
      v['ssh-key'] !== undefined &&
      existsSync(v['ssh-key']) &&
      !sshKeys.every((k) => /^(ssh-|ecdsa-|sk-)/.test(k))
    )
      p.push(`--ssh-key: ${v['ssh-key']} is not a public key file (lines like "ssh-ed25519 AAAA…")`);
    if (v['ssh-key'] !== undefined && existsSync(v['ssh-key']) && sshKeys.length === 0)
      p.push(`--ssh-key: ${v['ssh-key']} holds no key`);
    let config: Record<string, unknown> | undefined;
    const configText = readable(v.config, '--config');
    if (configText) {
      try {
        config = JSON.parse(configText.toString()) as Record<string, unknown>;
      } catch {
        p.push(`--config: ${v.config} is not JSON`);
      }
    }
    const keystorePath =
      v.keystore ?? (typeof config?.gatewayKeystore === 'string' ? config.gatewayKeystore : undefined);
    if (config && keystorePath === undefined)
      p.push('--keystore: the config names no gatewayKeystore; give --keystore');
    const keystore = readable(keystorePath, '--keystore');
    const noPassword = passwordProblem(io, false);
    if (noPassword) p.push(noPassword);
    const tarball = v.tarball ? resolve(v.tarball) : undefined;
    if (tarball && !/\.tgz$/.test(tarball)) p.push(`--tarball: expected an npm pack .tgz, got ${tarball}`);
    if (tarball) readable(tarball, '--tarball');
    let fat: { offset: number } | undefined;
    if (v.base !== undefined) {
      p.push(...missingMtools());
      if (!existsSync(v.base)) p.push(`--base: ${v.base} does not exist`);
      else if (!statSync(v.base).isFile()) p.push(`--base: ${v.base} is not a file`);
      else if (p.length === 0) {
        try {
          const part = bootPartition(v.base, statSync(v.base).size);
          const boot = new Fat(v.base, part.offset);
          if (!boot.has('config.txt') || !boot.has('cmdline.txt'))
            throw new ImageError(
              `${v.base}: the boot partition has no config.txt and cmdline.txt: not a Raspberry Pi OS image`,
            );
          fat = part;
        } catch (e) {
          if (!(e instanceof ImageError)) throw e;
          p.push(`--base: ${e.message}`);
        }
      }
      if (v.out !== undefined) {
        checkOutputs([v.out], '--out', p, v.force === true);
        if (resolve(v.out) === resolve(v.base))
          p.push('--out must not be the base image: it is never changed');
        if (!existsSync(dirname(resolve(v.out))))
          p.push(`--out: directory ${dirname(resolve(v.out))} does not exist`);
      }
    }
    if (p.length > 0) throw new UsageError(p);

    // the config is checked by the agent's own parser, decrypting its keystore with the password
    const password = await readPassword(io, `the gateway keystore ${keystorePath}`, false);
    try {
      parseConfig(
        { ...config, gatewayKeystore: resolve(keystorePath as string) },
        { [PASSWORD_ENV]: password },
      );
    } catch (e) {
      if (!(e instanceof LatchkeyError)) throw e;
      throw new UsageError([`--config: the agent refuses it: ${e.message.replace(/\n/g, '; ')}`]);
    }
    const wifiPassword =
      v['wifi-ssid'] === undefined
        ? undefined
        : (io.env[WIFI_PASSWORD_ENV] ??
          (await (io.askSecret as (q: string) => Promise<string>)(`Wi-Fi password for ${v['wifi-ssid']}: `)));
    if (wifiPassword !== undefined && (wifiPassword.length < 8 || wifiPassword.length > 63))
      throw new UsageError(['the Wi-Fi password must have 8 to 63 characters (WPA2)']);

    let release = tarball;
    if (!release) {
      io.stderr('packing the agent (npm pack: builds the contract ABI and the compiled agent) ...\n');
      release = packRelease();
    }
    const files = bootFiles({
      firstBoot: {
        hostname: v.hostname as string,
        adminUser: v['admin-user'] ?? 'admin',
        sshKeys,
        timezone: v.timezone ?? 'UTC',
        ntpServers: v.ntp ?? [],
      },
      network: v['wifi-ssid']
        ? {
            wifi: {
              ssid: v['wifi-ssid'],
              password: wifiPassword as string,
              country: v['wifi-country'] as string,
            },
          }
        : {},
      config: config as Record<string, unknown>,
      keystore: keystore as Buffer,
      password,
      tarball: release,
    });

    if (v.dir !== undefined) {
      const targets = files.map((f) => join(v.dir as string, f.path));
      const problems: string[] = [];
      checkOutputs(targets, '--dir', problems, v.force === true);
      if (problems.length > 0) throw new UsageError(problems);
      writeOutputs(new Map(files.map((f, i) => [targets[i] as string, f.data])), 0o600);
      io.stdout(`dir: ${resolve(v.dir)}\n${files.map((f) => `file: ${f.path}\n`).join('')}`);
      io.stderr(
        'Copy these files to the root of the boot partition (bootfs) of a freshly flashed Raspberry Pi OS card.\n',
      );
      return;
    }

    const base = v.base as string;
    const out = resolve(v.out as string);
    const tmp = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await copyWithProgress(io, base, tmp, statSync(base).size);
      const boot = new Fat(tmp, (fat as { offset: number }).offset);
      const need = files.reduce((a, f) => a + f.data.length + 4096, 0);
      const free = boot.freeBytes();
      if (need > free)
        throw new ImageError(
          `the boot partition has no room: the gateway files need ${need} bytes, ${free} are free`,
        );
      const staging = mkdtempSync(join(tmpdir(), 'latchkey-image-'));
      try {
        boot.mkdir(BOOT_SUBDIR);
        const bar = progressBar(io, 'writing the boot partition');
        files.forEach((f, i) => {
          const local = join(staging, `f${i}`);
          writeFileSync(local, f.data, { mode: 0o600 });
          boot.copyIn(local, f.path);
          bar.update((i + 1) / files.length);
        });
        bar.done();
      } finally {
        rmSync(staging, { recursive: true, force: true });
      }
      if (v.force === true) renameSync(tmp, out);
      else {
        if (existsSync(out))
          throw new UsageError([`--out: ${out} appeared meanwhile; refusing to overwrite it`]);
        renameSync(tmp, out);
      }
    } catch (e) {
      rmSync(tmp, { force: true });
      if (e instanceof ImageError) throw new Error(e.message);
      throw e;
    }
    io.stdout(
      `image: ${out}\nboot offset: ${(fat as { offset: number }).offset}\n${files.map((f) => `file: ${f.path}\n`).join('')}`,
    );
    io.stderr(
      `Flash it (e.g. Raspberry Pi Imager, "use custom", without its OS customisation, or dd) and boot: the\n` +
        `first boot installs the agent and starts latchkey.service. Then: ssh ${v['admin-user'] ?? 'admin'}@${v.hostname}.local, latchkey doctor.\n`,
    );
  },
};
