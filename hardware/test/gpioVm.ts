// A real Linux kernel with simulated GPIO lines, for the gpio driver's tests: Debian's kernel boots
// under QEMU (TCG: no KVM needed) from a tiny busybox initramfs, mounts this machine's root
// read-only over 9p, loads gpio-sim (built here out of tree from linux-source and linux-headers:
// Debian's kernel does not ship it) and runs one command in that root, with a writable share for
// its results. gpio-sim's sysfs shows each line's PHYSICAL level, and its pull stands for what
// drives an input.

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const KERNEL = '6.1.0-57-amd64';
const VMLINUZ = `/boot/vmlinuz-${KERNEL}`;
const MODULES = `/lib/modules/${KERNEL}`;
const HEADERS = `${MODULES}/build`;
const SOURCE = '/usr/src/linux-source-6.1.tar.xz';
const BUSYBOX = '/bin/busybox';
const CACHE = join(tmpdir(), `latchkey-gpio-vm-${KERNEL}`);

/** What the VM needs, checked in this order; each names the Debian package that brings it. */
const NEEDS: [path: string, pkg: string][] = [
  ['/usr/bin/qemu-system-x86_64', 'qemu-system-x86'],
  [VMLINUZ, `linux-image-${KERNEL}`],
  [`${MODULES}/kernel/fs/9p/9p.ko`, `linux-image-${KERNEL}`],
  [`${HEADERS}/Makefile`, `linux-headers-${KERNEL}`],
  [SOURCE, 'linux-source-6.1'],
  [BUSYBOX, 'busybox-static'],
  ['/usr/bin/cpio', 'cpio'],
  ['/usr/sbin/modprobe', 'kmod'],
];

/** Kernel modules the initramfs loads, each after what it needs (modprobe --show-depends). */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'configfs'];

export interface GpioVmFiles {
  kernel: string;
  initrd: string;
}

/** The first missing Debian package, or undefined when everything is here. */
export function missingGpioVmPackage(): string | undefined {
  for (const [path, pkg] of NEEDS) if (!existsSync(path)) return pkg;
  if (!isStaticBusybox()) return 'busybox-static';
  return undefined;
}

function isStaticBusybox(): boolean {
  // A dynamically linked busybox would need its libraries in the initramfs.
  const elf = readFileSync(BUSYBOX);
  return !elf.includes(Buffer.from('/lib64/ld-linux'));
}

/** Builds gpio-sim against the installed headers: gpio-sim.c, gpiolib.h and irq_sim.c from the source. */
function buildGpioSim(dir: string): void {
  const src = join(dir, 'src');
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  const files = ['drivers/gpio/gpio-sim.c', 'drivers/gpio/gpiolib.h', 'kernel/irq/irq_sim.c'];
  execFileSync('tar', [
    'xJf',
    SOURCE,
    '-C',
    src,
    '--strip-components=1',
    ...files.map((f) => `linux-source-6.1/${f}`),
  ]);
  const build = join(dir, 'build');
  rmSync(build, { recursive: true, force: true });
  mkdirSync(build);
  for (const f of files) copyFileSync(join(src, f), join(build, f.split('/').at(-1) as string));
  // irq_sim is built into the kernel when enabled (it is not in Debian's): as a module it cannot
  // reach irq_to_desc, so it hands the interrupt to the generic handler, and needs a licence.
  const irqSim = join(build, 'irq_sim.c');
  const text = readFileSync(irqSim, 'utf8');
  const patched = text.replace('handle_simple_irq(irq_to_desc(irqnum));', 'generic_handle_irq(irqnum);');
  if (patched === text) throw new Error('irq_sim.c: the handle_simple_irq call to patch was not found');
  writeFileSync(irqSim, `${patched}\n#include <linux/module.h>\nMODULE_LICENSE("GPL");\n`);
  writeFileSync(join(build, 'Kbuild'), 'obj-m += irq_sim.o gpio-sim.o\n');
  execFileSync('make', ['-s', '-C', HEADERS, `M=${build}`, 'modules'], { stdio: 'pipe' });
}

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /root /bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ip link set lo up
for m in $(cat /modules.order); do insmod /modules/$m || echo "latchkey-vm: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /root || echo "latchkey-vm: no host root"
mount -t proc proc /root/proc
mount -t sysfs sys /root/sys
mount -t devtmpfs dev /root/dev
mount -t configfs none /root/sys/kernel/config
mount -t tracefs none /root/sys/kernel/tracing
mount -t tmpfs tmp /root/tmp
mount -t tmpfs run /root/run
mkdir -p /root/tmp/vm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /root/tmp/vm || echo "latchkey-vm: no out share"
chroot /root /bin/sh /tmp/vm/run.sh > /dev/console 2>&1
echo $? > /root/tmp/vm/rc
sync
umount /root/tmp/vm
echo "latchkey-vm: done"
poweroff -f
`;

/** Builds the modules and the initramfs once into a cache dir; later calls reuse them. */
export function prepareGpioVm(): GpioVmFiles {
  mkdirSync(CACHE, { recursive: true });
  // Named by what goes in it, so that a changed init script builds a new one.
  const key = createHash('sha256').update(INIT).update(BOOT_MODULES.join()).digest('hex').slice(0, 12);
  const initrd = join(CACHE, `initramfs-${key}.cpio`);
  if (existsSync(initrd)) return { kernel: VMLINUZ, initrd };
  // Built in a directory of this process's own, then moved into place in one rename.
  const work = mkdtempSync(join(CACHE, 'work-'));
  try {
    buildInitramfs(work, initrd);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { kernel: VMLINUZ, initrd };
}

function buildInitramfs(work: string, initrd: string): void {
  const root = join(work, 'initramfs');
  mkdirSync(join(root, 'modules'), { recursive: true });
  mkdirSync(join(root, 'bin'));
  copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
  const order: string[] = [];
  for (const name of BOOT_MODULES) {
    const plan = execFileSync('/usr/sbin/modprobe', ['--show-depends', '-S', KERNEL, name], {
      encoding: 'utf8',
    });
    for (const line of plan.split('\n')) {
      const ko = /^insmod (\S+\.ko)/.exec(line)?.[1];
      if (!ko) continue;
      const file = ko.split('/').at(-1) as string;
      if (order.includes(file)) continue;
      copyFileSync(ko, join(root, 'modules', file));
      order.push(file);
    }
  }
  buildGpioSim(work);
  for (const ko of ['irq_sim.ko', 'gpio-sim.ko']) {
    copyFileSync(join(work, 'build', ko), join(root, 'modules', ko));
    order.push(ko);
  }
  writeFileSync(join(root, 'modules.order'), `${order.join('\n')}\n`);
  writeFileSync(join(root, 'init'), INIT, { mode: 0o755 });
  const list = execFileSync('find', ['.', '-mindepth', '1'], { cwd: root, encoding: 'utf8' });
  const cpio = execFileSync('cpio', ['--quiet', '-o', '-H', 'newc', '-R', '0:0'], {
    cwd: root,
    input: list,
    maxBuffer: 64 * 1024 * 1024,
  });
  writeFileSync(join(work, 'initramfs.cpio'), cpio);
  renameSync(join(work, 'initramfs.cpio'), initrd);
}

/**
 * Runs `fn` while holding this machine's VM lock: one emulated VM at a time (two would only share
 * the same cores at half the speed each). A lock left by a process that died is taken over.
 */
async function withVmLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(CACHE, { recursive: true });
  const lock = join(CACHE, 'lock');
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {}
      let alive = true;
      if (Number.isInteger(holder)) {
        try {
          process.kill(holder, 0);
        } catch {
          alive = false;
        }
      }
      if (!alive) rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface VmRun {
  /** The shell script's exit code inside the VM, or undefined if it never finished. */
  rc: number | undefined;
  /** Everything the VM printed on its console (kernel and the script). */
  console: string;
  /** The writable share: the script sees it as /tmp/vm. */
  out: string;
}

/** Boots the VM, runs `script` (sh, in the host root as root) and powers off. */
export async function runInVm(files: GpioVmFiles, script: string, timeoutMs: number): Promise<VmRun> {
  const out = mkdtempSync(join(CACHE, 'run-'));
  writeFileSync(join(out, 'run.sh'), script);
  const args = [
    '-accel',
    'tcg',
    '-m',
    '2048',
    '-smp',
    '2',
    '-nographic',
    '-no-reboot',
    '-nic',
    'none',
    '-kernel',
    files.kernel,
    '-initrd',
    files.initrd,
    '-append',
    'console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init',
    '-fsdev',
    'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device',
    'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev',
    `local,id=out,path=${out},security_model=none`,
    '-device',
    'virtio-9p-pci,fsdev=out,mount_tag=out',
    // this checkout on its own: one under /tmp is hidden by the VM's own /tmp (see vitestInVm)
    '-fsdev',
    `local,id=project,path=${process.cwd()},security_model=none,readonly=on,multidevs=remap`,
    '-device',
    'virtio-9p-pci,fsdev=project,mount_tag=project',
  ];
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let console = '';
  child.stdout.on('data', (c: Buffer) => {
    console += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    console += c.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(timer);
  const rcFile = join(out, 'rc');
  const rc = existsSync(rcFile) ? Number(readFileSync(rcFile, 'utf8').trim()) : undefined;
  return { rc, console, out };
}

/** The name relay.contract.ts gives a case skipped because the driver declared the capability absent. */
export function isCapabilitySkip(name: string): boolean {
  return /: no (availability|feedback) \(/.test(name);
}

export interface VitestReport {
  numTotalTests: number;
  numPassedTests: number;
  testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

/**
 * Boots the VM and runs vitest there on `file` (a suite listed in vitest.gpio-vm.config.ts), from
 * this repository as the VM sees it; the JSON report comes back through the writable share.
 */
export async function runVitestInVm(
  file: string,
  timeoutMs: number,
): Promise<{ run: VmRun; report: VitestReport }> {
  return withVmLock(() => vitestInVm(prepareGpioVm(), file, timeoutMs));
}

async function vitestInVm(
  files: GpioVmFiles,
  file: string,
  timeoutMs: number,
): Promise<{ run: VmRun; report: VitestReport }> {
  const script = [
    'export HOME=/tmp PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    // A checkout under /tmp (a CI clone) is under the VM's tmpfs: mount its own share there.
    `dir=${JSON.stringify(process.cwd())}`,
    'if [ ! -f "$dir/package.json" ]; then mkdir -p "$dir" && mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose project "$dir"; fi',
    'cd "$dir"',
    `${JSON.stringify(process.execPath)} node_modules/vitest/vitest.mjs run --config hardware/test/vitest.gpio-vm.config.ts --configLoader runner --reporter=default --reporter=json --outputFile.json=/tmp/vm/report.json ${file}`,
  ].join('\n');
  const run = await runInVm(files, `${script}\n`, timeoutMs);
  const report = join(run.out, 'report.json');
  if (!existsSync(report)) throw new Error(`the VM produced no test report:\n${run.console.slice(-6000)}`);
  const parsed = JSON.parse(readFileSync(report, 'utf8')) as VitestReport;
  rmSync(run.out, { recursive: true, force: true });
  return { run, report: parsed };
}

/** Each test that did not pass inside the VM, with its failure. */
/** Tests that neither passed nor were skipped as a capability the hardware lacks (relay.contract.ts). */
export function failuresOf(report: VitestReport): string[] {
  return report.testResults
    .flatMap((f) => f.assertionResults)
    .filter((t) => t.status !== 'passed' && !(t.status === 'skipped' && isCapabilitySkip(t.fullName)))
    .map((t) => `${t.fullName}: ${t.status}\n${t.failureMessages.join('\n')}`);
}
