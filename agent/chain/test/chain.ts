// Test fixtures for the chain side: a real anvil with a deployed Latchkey and a registered device,
// helpers to rent, confirm and reorg, and a real Store in a temp directory.

import { Wallet } from 'ethers';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type Anvil, startAnvil } from '../../../contracts/anvil.js';
import {
  type DeviceParams,
  deployLatchkey,
  type LatchkeyContract,
  latchkeyAt,
  registerDevice,
} from '../../../contracts/deploy.js';
import { nextStart, rentalFromReceipt, rentDevice } from '../../../contracts/rental.js';
import type { Rental } from '../../../contracts/typedData.js';
import { silentLogger } from '../../log.js';
import type { RentalStatus, Store, StoredRental } from '../../store/store.js';
import { tempStore as storeInTempDir } from '../../store/test/fixtures.js';
import type { ChainHead, ChainWatcher, ChainWatcherOptions } from '../watcher.js';

export const PRICE_PER_SECOND = 1_000_000_000n; // 1 gwei per second
export const DURATION = 3600;

export interface Chain {
  anvil: Anvil;
  address: string;
  deployBlock: number;
  host: Wallet;
  guest: Wallet;
  /** Sends checkout transactions in the submitter tests. */
  gateway: Wallet;
  /** The device's receipt signing key. */
  deviceKey: `0x${string}`;
  deviceId: bigint;
  /** A second device on the same contract that the gateway does not own. */
  otherDeviceId: bigint;
  asHost: LatchkeyContract;
  asGuest: LatchkeyContract;
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  /** Mines `n` empty blocks. */
  mine(n: number): Promise<void>;
  head(): Promise<number>;
  /** Rents `deviceId` as the guest, starting at the device's next free second (or `start`). */
  rent(opts?: {
    deviceId?: bigint;
    start?: bigint;
    duration?: number;
  }): Promise<{ rental: Rental; block: number }>;
  /**
   * `n` back-to-back rentals of our device, one per block, sent without waiting for each (anvil mines
   * on arrival): far fewer round trips than rent() in a loop. Resolves with them in chain order.
   */
  rentMany(n: number): Promise<{ rental: Rental; block: number }[]>;
  stop(): Promise<void>;
}

/** `anvilArgs`: extra anvil flags, e.g. `['--slots-in-an-epoch', '1']` for safe/finalized tags that move. */
export async function startChain(anvilArgs: string[] = []): Promise<Chain> {
  const anvil = await startAnvil({ quiet: true, args: anvilArgs });
  const [a0, a1, a2, a3] = anvil.accounts;
  if (!a0 || !a1 || !a2 || !a3) throw new Error('anvil has too few dev accounts');
  const host = new Wallet(a0.privateKey, anvil.provider);
  const guest = new Wallet(a1.privateKey, anvil.provider);
  const gateway = new Wallet(a2.privateKey, anvil.provider);
  const deviceKey = a3.privateKey;
  const {
    address,
    contract: asHost,
    blockNumber,
  } = await deployLatchkey(host, {
    graceSeconds: 60n,
  });
  const params = {
    signer: a3.address,
    kind: 'socket' as const,
    pricePerSecond: PRICE_PER_SECOND,
    minDuration: 60,
  };
  const { deviceId } = await registerDevice(asHost, params);
  const { deviceId: otherDeviceId } = await registerDevice(asHost, params);
  const asGuest = latchkeyAt(address, guest);
  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> =>
    (await anvil.provider.send(method, params)) as T;
  const chain: Chain = {
    anvil,
    address,
    deployBlock: blockNumber,
    host,
    guest,
    gateway,
    deviceKey,
    deviceId,
    otherDeviceId,
    asHost,
    asGuest,
    rpc,
    mine: async (n) => {
      await rpc('anvil_mine', [`0x${n.toString(16)}`]);
    },
    head: async () => Number(await rpc<string>('eth_blockNumber')),
    rent: async (opts = {}) => {
      const id = opts.deviceId ?? deviceId;
      const duration = opts.duration ?? DURATION;
      // The first free window from now in the device's calendar (0n = now).
      const start = opts.start ?? (await nextStart(asGuest, id, duration));
      if (start === undefined) throw new Error(`device ${id} is booked up to the horizon`);
      const { rental, receipt } = await rentDevice(asGuest, id, duration, { start });
      return { rental, block: receipt.blockNumber };
    },
    rentMany: async (n) => {
      const device = await asGuest.device(deviceId);
      const now = BigInt((await anvil.provider.getBlock('latest'))!.timestamp);
      // After every booking ever made, on a minute (the calendar slot), so none of them collide.
      let start = device.bookedUntil > now + 600n ? device.bookedUntil : now + 600n;
      start = ((start + 59n) / 60n) * 60n;
      const { deposit: value } = await asGuest.quote(deviceId, DURATION);
      const nonce = await anvil.provider.getTransactionCount(guest.address, 'pending');
      const hashes: string[] = [];
      for (let i = 0; i < n; i++) {
        const tx = await asGuest.rent(deviceId, start, DURATION, {
          value,
          nonce: nonce + i,
          gasLimit: 500_000n,
        });
        hashes.push(tx.hash);
        start += BigInt(DURATION);
      }
      const out: { rental: Rental; block: number }[] = [];
      for (const hash of hashes) {
        const receipt = await anvil.provider.waitForTransaction(hash);
        if (receipt?.status !== 1) throw new Error(`rent ${hash} failed`);
        out.push({ rental: rentalFromReceipt(receipt, address), block: receipt.blockNumber });
      }
      return out;
    },
    stop: () => anvil.stop(),
  };
  return chain;
}

export type Cleanups = (() => Promise<void> | void)[];

/**
 * The vitest hooks every chain test file shares: one anvil with the contract for the file (handed to
 * `ready`), and the returned cleanups run newest first after each test.
 */
export function useChain(ready: (chain: Chain) => void | Promise<void>): Cleanups {
  let chain: Chain | undefined;
  const cleanups: Cleanups = [];
  beforeAll(async () => {
    chain = await startChain();
    await ready(chain);
  });
  afterAll(async () => {
    await chain?.stop();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}

/**
 * Options of a watcher over `chain` whose polls the test drives (one poll an hour otherwise), from the
 * next block on, 2 confirmations; `over` changes any of them.
 */
export async function watcherOptions(
  chain: Chain,
  over: Partial<ChainWatcherOptions> = {},
): Promise<Omit<ChainWatcherOptions, 'store'>> {
  return {
    rpcUrls: [chain.anvil.url],
    contract: chain.address,
    deviceIds: [chain.deviceId],
    confirmations: 2,
    pollMs: 3_600_000,
    chunkSize: 100,
    startBlock: (await chain.head()) + 1,
    log: silentLogger,
    ...over,
  };
}

/** A socket the chain's host registers under `signer`, at the test price (one-minute minimum); `over`
 *  changes any field. */
export async function registerSocket(
  chain: Chain,
  signer: string,
  over: Partial<DeviceParams> = {},
): Promise<bigint> {
  const params = {
    signer,
    kind: 'socket',
    pricePerSecond: PRICE_PER_SECOND,
    minDuration: 60,
    ...over,
  } as const;
  return (await registerDevice(chain.asHost, params)).deviceId;
}

/** A temp-dir store removed after the test. */
export function storeFor(cleanups: Cleanups): { store: Store; path: string } {
  const s = tempStore();
  cleanups.push(s.cleanup);
  return s;
}

/** A temp-dir store, started; `cleanup()` closes and removes it. */
export const tempStore = () => storeInTempDir('latchkey-chain-');

export interface Recorded {
  rental: StoredRental[];
  closed: [bigint, RentalStatus][];
  revoked: bigint[];
  head: ChainHead[];
  latest: ChainHead[];
  unavailable: Error[];
  available: number;
  alarm: Error[];
}

/** Collects a watcher's events, for assertions. */
export function record(watcher: ChainWatcher): Recorded {
  const out: Recorded = {
    rental: [],
    closed: [],
    revoked: [],
    head: [],
    latest: [],
    unavailable: [],
    available: 0,
    alarm: [],
  };
  watcher.on('rental', (r) => out.rental.push(r));
  watcher.on('closed', (id, status) => out.closed.push([id, status]));
  watcher.on('revoked', (id) => out.revoked.push(id));
  watcher.on('head', (h) => out.head.push(h));
  watcher.on('latest', (h) => out.latest.push(h));
  watcher.on('unavailable', (e) => out.unavailable.push(e));
  watcher.on('available', () => out.available++);
  watcher.on('alarm', (e) => out.alarm.push(e));
  return out;
}
