// The embedded default: everything on one machine with nothing else installed — anvil spawned from
// node_modules, the contract deployed, a lock and a socket registered, an aedes broker (TCP and
// WebSocket), and the agent driving simulated relays. Used by `npm start`, the demo, tests and benches.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { type NetworkInterfaceInfo, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { type Anvil, type DevAccount, startAnvil } from '../contracts/anvil.js';
import { deployLatchkey, type LatchkeyContract, registerDevice } from '../contracts/deploy.js';
import { Agent } from './agent.js';
import { type EmbeddedBroker, freshLogins, startEmbeddedBroker } from './broker/embedded.js';
import { type AgentConfig, parseConfig } from './config.js';
import { LatchkeyError } from './errors.js';
import type { Logger } from './log.js';

export interface EmbeddedOptions {
  log: Logger;
  /** Preferred ports; a taken one falls back to a free port. 0 = any free port. */
  ports?: { rpc?: number; mqtt?: number; mqttWs?: number; http?: number };
  /** Seconds between anvil blocks; 0 mines on every transaction (fast tests). Default 1. */
  blockTime?: number;
  /** Blocks a rental must be buried under before it opens doors. Default 1 (0 with blockTime 0). */
  confirmations?: number;
  /** LAN interface for the broker and HTTP; default 127.0.0.1. */
  host?: string;
  /** Folder of the guest page to serve. */
  staticDir?: string;
  /** Extra config fields (e.g. pollMs) merged over the embedded defaults. */
  configOverrides?: (config: AgentConfig) => AgentConfig;
  /** Blocks of history the agent keeps to undo a reorg (tests of deeper reorgs make it small). */
  reorgWindow?: number;
  /** `false`: a broker without logins, loopback only (benchmarks of the agent alone). Default: logins. */
  brokerLogins?: false;
  /**
   * Offer the guest page a development wallet: /api/info carries the first guest dev account's key
   * (an anvil dev key, public knowledge) so a desktop browser without a wallet can rent. `npm start`
   * sets it; a configured gateway has no such setting.
   */
  devWallet?: boolean;
}

export interface DemoDevice {
  id: bigint;
  kind: 'lock' | 'socket';
  pricePerSecond: bigint;
  pricePerWh: bigint;
}

export interface Embedded {
  anvil: Anvil;
  broker: EmbeddedBroker;
  agent: Agent;
  config: AgentConfig;
  /** The contract as seen by the host. */
  contract: LatchkeyContract;
  contractAddress: string;
  host: DevAccount;
  gateway: DevAccount;
  /** Funded dev accounts free for guests. */
  guests: DevAccount[];
  devices: DemoDevice[];
  httpUrl: string;
  stop(): Promise<void>;
}

/** Prices of the demo devices: a lock at ~0.01 ETH/hour, a socket at ~0.0036 ETH/hour + 0.0001 ETH/Wh. */
export const DEMO_PRICES = {
  lock: { pricePerSecond: 3_000_000_000_000n, pricePerWh: 0n },
  socket: { pricePerSecond: 1_000_000_000_000n, pricePerWh: 100_000_000_000_000n },
} as const;

/**
 * The address a phone on the same network reaches this machine at: the first non-internal IPv4
 * address of `interfaces` (default: this machine's), or undefined when it has none (no network, or
 * only loopback and IPv6).
 */
export function lanAddress(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string | undefined {
  for (const list of Object.values(interfaces))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

/**
 * `npm start -- --lan [--lan-address A]`: where the embedded system listens. Loopback by default;
 * with --lan the LAN address (the first non-internal IPv4 one, or the one given) so a phone on the
 * same network opens the guest page, with the broker's logins on as always.
 */
export function embeddedHost(args: readonly string[], lanAddress: () => string | undefined): string {
  const given = args.find((a) => a.startsWith('--lan-address='))?.slice('--lan-address='.length);
  const at = args.indexOf('--lan-address');
  const address = given ?? (at >= 0 ? args[at + 1] : undefined);
  const known = new Set(['--lan', '--lan-address']);
  const unknown = args.filter(
    (a, i) => !known.has(a) && !a.startsWith('--lan-address=') && (at < 0 || i !== at + 1),
  );
  if (unknown.length > 0 || (at >= 0 && !address))
    throw new LatchkeyError(
      'CONFIG_INVALID',
      `usage: npm start [-- --lan [--lan-address <IPv4 address>]] (not understood: ${unknown.join(' ') || '--lan-address without an address'})`,
    );
  if (address !== undefined) return address;
  if (!args.includes('--lan')) return '127.0.0.1';
  const found = lanAddress();
  if (!found)
    throw new LatchkeyError(
      'CONFIG_INVALID',
      'no LAN address: this machine has no non-internal IPv4 address (is it on a network?). Connect it, or name one with --lan-address <address>',
    );
  return found;
}

/** `preferred` if nothing listens there, else 0 (the OS picks a free port). */
async function portOr0(preferred: number | undefined, host: string): Promise<number> {
  if (!preferred) return 0;
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(0));
    probe.listen(preferred, host, () => probe.close(() => resolve(preferred)));
  });
}

export async function startEmbedded(options: EmbeddedOptions): Promise<Embedded> {
  const { log } = options;
  const host = options.host ?? '127.0.0.1';
  const blockTime = options.blockTime ?? 1;
  const cleanups: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        log.warn('embedded stop step failed', { error: e });
      }
    }
  };
  try {
    const anvil = await startAnvil({
      port: await portOr0(options.ports?.rpc, '127.0.0.1'),
      ...(blockTime > 0 ? { blockTime } : {}),
      quiet: true,
    });
    cleanups.push(() => anvil.stop());
    const [hostAccount, gateway, ...guests] = anvil.accounts;
    if (!hostAccount || !gateway) throw new Error('anvil reported fewer than two dev accounts');
    const hostWallet = new Wallet(hostAccount.privateKey, anvil.provider);
    const deployment = await deployLatchkey(hostWallet);
    const devices: DemoDevice[] = [];
    for (const kind of ['lock', 'socket'] as const) {
      const { deviceId } = await registerDevice(deployment.contract, {
        signer: gateway.address,
        kind,
        ...DEMO_PRICES[kind],
      });
      devices.push({ id: deviceId, kind, ...DEMO_PRICES[kind] });
    }

    const logins = options.brokerLogins ?? freshLogins('gateway-1');
    const gatewayLogin = logins ? logins.gateways[0] : undefined;
    const broker = await startEmbeddedBroker({
      port: await portOr0(options.ports?.mqtt, host),
      wsPort: await portOr0(options.ports?.mqttWs, host),
      host,
      logins,
      log: log.child('broker'),
    });
    cleanups.push(() => broker.stop());

    const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-embedded-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let config = parseConfig({
      gatewayId: 'gateway-1',
      dataDir,
      gatewayKey: gateway.privateKey,
      chain: {
        rpcUrls: [anvil.url],
        chainId: anvil.chainId,
        contract: deployment.address,
        confirmations: options.confirmations ?? (blockTime > 0 ? 1 : 0),
        pollMs: 250,
        startBlock: deployment.blockNumber,
      },
      mqtt: {
        url: broker.url,
        ...(gatewayLogin ? { username: gatewayLogin.gatewayId, password: gatewayLogin.password } : {}),
      },
      http: { host, port: await portOr0(options.ports?.http, host) },
      devices: devices.map((d) => ({
        id: d.id.toString(),
        kind: d.kind,
        pulseSeconds: 5,
        relay: { driver: 'sim' },
      })),
    });
    if (options.configOverrides) config = options.configOverrides(config);
    const agent = new Agent(config, log.child('agent'), {
      ...(options.staticDir ? { staticDir: options.staticDir } : {}),
      // The guest page logs in to the broker over WebSocket with the guest login.
      publicInfo: {
        mqttWsUrl: broker.wsUrl,
        ...(logins ? { mqttUsername: logins.guest.username, mqttPassword: logins.guest.password } : {}),
        rpcUrl: anvil.url,
        ...(options.devWallet && guests[0] ? { devWalletKey: guests[0].privateKey } : {}),
      },
      ...(options.reorgWindow !== undefined ? { reorgWindow: options.reorgWindow } : {}),
    });
    cleanups.push(() => agent.stop());
    await agent.start();

    return {
      anvil,
      broker,
      agent,
      config,
      contract: deployment.contract,
      contractAddress: deployment.address,
      host: hostAccount,
      gateway,
      guests,
      devices,
      httpUrl: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${agent.httpPort}`,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
