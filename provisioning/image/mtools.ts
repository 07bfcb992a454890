// mtools on one partition of an image file (`-i image@@offset`): reads and writes FAT files without
// mounting and without root.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ImageError } from './disk.js';

const TOOLS = ['mcopy', 'mdir', 'mtype', 'mmd'] as const;

/** Problems for mtools binaries that are not installed. */
export function missingMtools(): string[] {
  const missing = TOOLS.filter(
    (t) => !['/usr/bin', '/usr/local/bin', '/bin'].some((d) => existsSync(`${d}/${t}`)),
  );
  return missing.length > 0 ? [`${missing.join(', ')} not found: install Debian's mtools package`] : [];
}

export class Fat {
  constructor(
    readonly image: string,
    readonly offset: number,
  ) {}

  private run(tool: (typeof TOOLS)[number], args: string[], input?: Buffer): string {
    const r = spawnSync(tool, ['-i', `${this.image}@@${this.offset}`, ...args], {
      env: { ...process.env, MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: '0' },
      ...(input ? { input } : {}),
      maxBuffer: 64 << 20,
    });
    if (r.error) throw new ImageError(`${tool}: ${r.error.message}`);
    const stderr = r.stderr.toString().trim();
    if (r.status !== 0) {
      if (/disk full/i.test(stderr))
        throw new ImageError('the boot partition is full: no room for the gateway files');
      throw new ImageError(`${tool} ${args.join(' ')} failed: ${stderr || `exit ${r.status}`}`);
    }
    return r.stdout.toString();
  }

  has(path: string): boolean {
    try {
      this.run('mdir', [`::/${path}`]);
      return true;
    } catch {
      return false;
    }
  }

  read(path: string): Buffer {
    const r = spawnSync('mtype', ['-i', `${this.image}@@${this.offset}`, `::/${path}`], {
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) throw new ImageError(`mtype ::/${path} failed: ${r.stderr.toString().trim()}`);
    return r.stdout;
  }

  /** Bytes free on the file system, from mdir's last line. */
  freeBytes(): number {
    const out = this.run('mdir', ['::/']);
    const m = /([0-9 ]+) bytes free/.exec(out);
    if (!m?.[1])
      throw new ImageError(
        `cannot read the free space of the boot partition: ${out.trim().split('\n').at(-1)}`,
      );
    return Number(m[1].replace(/ /g, ''));
  }

  mkdir(path: string): void {
    if (!this.has(path)) this.run('mmd', [`::/${path}`]);
  }

  /** Copies a local file in, replacing one of the same name. */
  copyIn(local: string, path: string): void {
    this.run('mcopy', ['-o', local, `::/${path}`]);
  }
}
