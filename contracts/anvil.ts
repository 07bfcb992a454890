// Runs a local anvil chain from node_modules for tests, benchmarks and the embedded `npm start`,
// and makes sure it dies with this process, even when this process is killed with SIGKILL.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getAddress, JsonRpcProvider } from 'ethers';

export interface AnvilOptions {
  /** TCP port; 0 or absent = any free port (anvil binds it and reports which). */
  port?: number;
  /**
   * IPv4 address to listen on; default 127.0.0.1. Anything else puts a chain whose dev accounts are
   * unlocked (and whose keys are public) on that network: for a development LAN only.
   */
  host?: string;
  /** Seconds between blocks; absent = a block per transaction (automine). */
  blockTime?: number;
  /** Default 31337. */
  chainId?: number;
  /** Do not copy anvil's output to stderr. */
  quiet?: boolean;
  /** More anvil flags, e.g. `['--slots-in-an-epoch', '1']` or `['--state', 'data/chain.json']`. */
  args?: readonly string[];
  /** How long to wait for the first answer to eth_chainId; default 20 s. */
  startupTimeoutMs?: number;
}

export interface DevAccount {
  address: string;
  privateKey: `0x${string}`;
}

export interface Anvil {
  url: string;
  chainId: number;
  /** anvil's funded dev accounts, as it reported them (derived from its mnemonic). */
  accounts: DevAccount[];
  /** Talks to this anvil; destroyed by stop()/kill(). */
  provider: JsonRpcProvider;
  /** Terminates anvil (SIGTERM, then SIGKILL after 5 s) and resolves once it has exited. */
  stop(): Promise<void>;
  /** Kills anvil at once (SIGKILL), synchronously. */
  kill(): void;
}

const require = createRequire(import.meta.url);
const ARCH: Partial<Record<string, string>> = { x64: 'amd64', arm64: 'arm64' };
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_LINES = 40;

/**
 * The anvil binary of the installed `@foundry-rs/anvil`: its platform package (an optional dependency,
 * resolved from the wrapper package like its own bin.mjs does), or `LATCHKEY_ANVIL_BIN` when set.
 */
export function anvilBinary(): string {
  const fromEnv = process.env.LATCHKEY_ANVIL_BIN;
  if (fromEnv) return fromEnv;
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  let wrapperJson: string;
  try {
    wrapperJson = require.resolve('@foundry-rs/anvil/package.json');
  } catch {
    throw new Error('@foundry-rs/anvil is not installed; run npm install (or set LATCHKEY_ANVIL_BIN)');
  }
  const platformPackage = `@foundry-rs/anvil-${process.platform}-${ARCH[process.arch] ?? process.arch}`;
  try {
    return createRequire(wrapperJson).resolve(`${platformPackage}/bin/${exe}`);
  } catch {
    // bin.mjs falls back to a dist/ folder next to the scoped packages
  }
  const dist = path.join(path.dirname(wrapperJson), '..', 'dist', exe);
  if (existsSync(dist)) return dist;
  throw new Error(
    `no anvil binary for ${process.platform}/${process.arch}: ${platformPackage} is not installed (set LATCHKEY_ANVIL_BIN)`,
  );
}

// Every anvil this process started and has not yet seen exit; killed when the process exits.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (process.platform === 'win32') child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) killGroup(child, 'SIGKILL');
  });
}

// A POSIX sh runs anvil and a watchdog that kills it when our end of its stdin pipe closes, which the
// kernel does however this process dies (SIGKILL included). SIGTERM to the sh is passed on to anvil.
const SUPERVISOR = `
exec 3<&0
"$0" "$@" 3<&- </dev/null &
pid=$!
{ cat <&3 >/dev/null; kill -KILL "$pid" 2>/dev/null; } &
exec 3<&-
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT HUP
while :; do
  wait "$pid"; status=$?
  kill -0 "$pid" 2>/dev/null || exit "$status"
done
`;

/** Starts anvil and resolves once it answers eth_chainId. */
export async function startAnvil(opts: AnvilOptions = {}): Promise<Anvil> {
  const chainId = opts.chainId ?? 31337;
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new RangeError(`invalid anvil port: ${port}`);
  if (opts.blockTime !== undefined && !(opts.blockTime > 0)) throw new RangeError('blockTime must be > 0');

  const configDir = mkdtempSync(path.join(tmpdir(), 'latchkey-anvil-'));
  const configFile = path.join(configDir, 'anvil.json');
  const host = opts.host ?? '127.0.0.1';
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) throw new RangeError(`invalid anvil host: ${host}`);
  const args = ['--host', host, '--port', String(port), '--chain-id', String(chainId)];
  args.push('--config-out', configFile);
  if (opts.blockTime !== undefined) args.push('--block-time', String(opts.blockTime));
  args.push(...(opts.args ?? []));

  const binary = anvilBinary();
  const child =
    process.platform === 'win32'
      ? spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true })
      : spawn('/bin/sh', ['-c', SUPERVISOR, binary, ...args], {
          stdio: ['pipe', 'pipe', 'pipe'],
          detached: true,
        });
  live.add(child);
  installExitHook();

  const tail: string[] = [];
  let listening: ((url: string) => void) | undefined;
  const listeningUrl = new Promise<string>((resolve) => {
    listening = resolve;
  });
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
    const m = /Listening on ([\d.]+:\d+)/.exec(line);
    if (m) listening?.(`http://${m[1]}`);
    if (!opts.quiet) process.stderr.write(`anvil| ${line}\n`);
  };
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        onLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
      }
    });
  }

  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      // the watchdog may still sit on the pipe; it has nothing left to guard
      killGroup(child, 'SIGKILL');
      resolve();
    });
  });
  const failure = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start anvil (${binary}): ${e.message}`)));
    child.once('exit', (code, signal) =>
      reject(
        new Error(
          `anvil exited during startup (${signal ?? `code ${code}`}):\n${tail.join('\n') || '(no output)'}`,
        ),
      ),
    );
  });
  failure.catch(() => {}); // only awaited during startup

  const kill = () => {
    killGroup(child, 'SIGKILL');
  };
  const timeoutMs = opts.startupTimeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  const startup = new AbortController();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`anvil did not answer within ${timeoutMs} ms:\n${tail.join('\n')}`)),
      timeoutMs,
    );
  });

  try {
    const url = await Promise.race([listeningUrl, failure, timeout]);
    const reported = await Promise.race([waitForChainId(url, startup.signal), failure, timeout]);
    if (reported !== chainId)
      throw new Error(`anvil at ${url} reports chain ${reported}, expected ${chainId}`);
    const accounts = readDevAccounts(configFile);
    rmSync(configDir, { recursive: true, force: true });

    const provider = new JsonRpcProvider(url, chainId, {
      staticNetwork: true,
      batchMaxCount: 1, // a local node answers at once; batching would only add its 10 ms stall
      cacheTimeout: -1, // evm_mine/evm_increaseTime must show at once
      pollingInterval: opts.blockTime ? Math.min(1000, opts.blockTime * 250) : 50,
    });
    // A forgotten stop() must not keep the process alive; the exit hook and the watchdog clean up.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as Socket | null)?.unref();

    let stopping: Promise<void> | undefined;
    return {
      url,
      chainId,
      accounts,
      provider,
      kill() {
        provider.destroy();
        kill();
      },
      stop() {
        stopping ??= (async () => {
          provider.destroy();
          if (!live.has(child)) return;
          child.kill('SIGTERM');
          const grace = setTimeout(kill, STOP_GRACE_MS);
          await exited;
          clearTimeout(grace);
        })();
        return stopping;
      },
    };
  } catch (e) {
    kill();
    rmSync(configDir, { recursive: true, force: true });
    throw e;
  } finally {
    clearTimeout(timer);
    startup.abort();
  }
}

async function waitForChainId(url: string, signal: AbortSignal): Promise<number> {
  for (let delay = 10; !signal.aborted; delay = Math.min(delay * 2, 200)) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
        signal,
      });
      const body = (await res.json()) as { result?: string };
      if (typeof body.result === 'string') return Number(BigInt(body.result));
    } catch {
      // not accepting connections yet
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new Error('startup abandoned');
}

function readDevAccounts(configFile: string): DevAccount[] {
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as {
    available_accounts?: string[];
    private_keys?: string[];
  };
  const addresses = config.available_accounts ?? [];
  const keys = config.private_keys ?? [];
  if (addresses.length === 0 || addresses.length !== keys.length)
    throw new Error(`anvil wrote no usable dev accounts to ${configFile}`);
  return addresses.map((address, i) => ({
    address: getAddress(address),
    privateKey: keys[i] as `0x${string}`,
  }));
}
