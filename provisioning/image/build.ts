// The gateway files of a first boot, made from the host's inputs: the cloud-init files, the agent
// config rewritten for the paths on the gateway, the keystore, its password, the unit and the release
// tarball (`npm pack` of this checkout unless one is given).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UNIT_DEFAULTS, unitFile } from '../service/unit.js';
import {
  BOOT_SUBDIR,
  type FirstBoot,
  metaData,
  type Network,
  networkConfig,
  ON_GATEWAY,
  userData,
} from './cloudInit.js';
import { ImageError } from './disk.js';

/** A file of the boot partition: its path there and its bytes. */
export interface BootFile {
  path: string;
  data: Buffer;
}

/** The folder of this package's package.json (works from the sources and from dist/). */
export function packageRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'latchkey')
      return dir;
  }
  throw new ImageError('cannot find the latchkey package folder to pack');
}

/** Runs `npm pack` of this checkout into a temporary folder; returns the tarball's path. */
export function packRelease(): string {
  const root = packageRoot();
  if (!existsSync(join(root, 'contracts', 'src')))
    throw new ImageError(
      'this is an installed release, which cannot pack itself: give --tarball <latchkey-x.y.z.tgz>',
    );
  const dest = mkdtempSync(join(tmpdir(), 'latchkey-pack-'));
  const r = spawnSync('npm', ['pack', '--silent', '--pack-destination', dest], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new ImageError(
      `npm pack failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n')}`,
    );
  const tgz = readdirSync(dest).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new ImageError('npm pack wrote no tarball');
  return join(dest, tgz);
}

export interface GatewayInputs {
  firstBoot: Omit<FirstBoot, 'tarball'>;
  network: Network;
  /** The agent config as `latchkey config` wrote it. */
  config: Record<string, unknown>;
  keystore: Buffer;
  password: string;
  tarball: string;
}

export function bootFiles(i: GatewayInputs): BootFile[] {
  const tarballName = i.tarball.split('/').at(-1) as string;
  const config = { ...i.config, gatewayKeystore: ON_GATEWAY.keystore, dataDir: ON_GATEWAY.dataDir };
  delete (config as Record<string, unknown>).gatewayKeyPasswordFile;
  delete (config as Record<string, unknown>).gatewayKey;
  const text = (s: string) => Buffer.from(s);
  const instance = `latchkey-${i.firstBoot.hostname}-${randomBytes(4).toString('hex')}`;
  return [
    { path: 'user-data', data: text(userData({ ...i.firstBoot, tarball: tarballName })) },
    { path: 'network-config', data: text(networkConfig(i.network)) },
    { path: 'meta-data', data: text(metaData(i.firstBoot.hostname, instance)) },
    { path: `${BOOT_SUBDIR}/config.json`, data: text(`${JSON.stringify(config, null, 2)}\n`) },
    { path: `${BOOT_SUBDIR}/gateway.json`, data: i.keystore },
    { path: `${BOOT_SUBDIR}/key-password`, data: text(`${i.password}\n`) },
    {
      path: `${BOOT_SUBDIR}/latchkey.service`,
      data: text(
        unitFile({ ...UNIT_DEFAULTS, config: ON_GATEWAY.config, passwordFile: ON_GATEWAY.passwordFile }),
      ),
    },
    { path: `${BOOT_SUBDIR}/${tarballName}`, data: readFileSync(i.tarball) },
  ];
}
