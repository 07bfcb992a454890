// Deploys the Latchkey contract and attaches ethers v6 to it with the generated ABI and method types.

import {
  Contract,
  ContractFactory,
  type ContractRunner,
  type ContractTransactionReceipt,
  getAddress,
  Interface,
  type Signer,
} from 'ethers';
import { findLatchkeyEvent } from './events.js';
import { type LatchkeyContract, latchkeyAbi, latchkeyBytecode } from './generated/latchkey.js';
import { DeviceKind } from './typedData.js';

export type { LatchkeyContract } from './generated/latchkey.js';

/** How long after a rental's end only its guest may settle it by time (then anyone may). */
export const DEFAULT_GRACE_SECONDS = 3_600n;

/** The largest deposit factor the contract accepts (`MAX_DEPOSIT_FACTOR()`, percent): 4x the rent. */
export const MAX_DEPOSIT_FACTOR = 400;
/** The most calendar slots one booking may span (`MAX_BOOKING_SLOTS()`): a week of minute slots. */
export const MAX_BOOKING_SLOTS = 10_080;
/** The booking horizon (`MAX_ADVANCE()`) in hours: 30 days, also the longest cancel window. */
export const MAX_ADVANCE_HOURS = 720;

export const latchkeyInterface = new Interface(latchkeyAbi);

export interface Deployment {
  address: string;
  contract: LatchkeyContract;
  blockNumber: number;
  receipt: ContractTransactionReceipt;
}

/** Deploys a new Latchkey contract from `signer` and waits for it to be mined. */
export async function deployLatchkey(
  signer: Signer,
  opts: { graceSeconds?: bigint } = {},
): Promise<Deployment> {
  const grace = opts.graceSeconds ?? DEFAULT_GRACE_SECONDS;
  if (grace < 0n || grace >= 1n << 64n) throw new RangeError(`graceSeconds out of uint64 range: ${grace}`);
  const factory = new ContractFactory(latchkeyAbi, latchkeyBytecode, signer);
  const deployed = await factory.deploy(grace);
  const receipt = (await deployed.deploymentTransaction()?.wait()) as ContractTransactionReceipt | null;
  if (!receipt?.contractAddress) throw new Error('Latchkey deployment was not mined');
  const address = getAddress(receipt.contractAddress);
  return { address, contract: latchkeyAt(address, signer), blockNumber: receipt.blockNumber, receipt };
}

/** The Latchkey contract at `address`, sending transactions from `runner` when it is a Signer. */
export function latchkeyAt(address: string, runner?: ContractRunner | null): LatchkeyContract {
  return new Contract(getAddress(address), latchkeyAbi, runner ?? null) as unknown as LatchkeyContract;
}

export interface DeviceParams {
  /** Address of the gateway key that signs this device's usage receipts. */
  signer: string;
  kind: DeviceKind | 'lock' | 'socket';
  /** wei per second. */
  pricePerSecond: bigint;
  /** wei per metered watt-hour; default 0 (not metered). */
  pricePerWh?: bigint;
  /** Percent of the rent taken as deposit, 100 to MAX_DEPOSIT_FACTOR (400); default 200 (2x). */
  depositFactor?: number;
  /** Seconds; default 60. */
  minDuration?: number;
  /** Seconds; default 7 days. */
  maxDuration?: number;
  /**
   * The most power the device delivers, in watts: each rental's deposit prepays `maxWatts × duration`
   * of energy at `pricePerWh`. Default DEFAULT_MAX_WATTS when the device has an energy price, else 0.
   */
  maxWatts?: number;
  /** The calendar's slot length in seconds (at least 60, and maxDuration at most 10,080 slots); default 60. */
  slotSeconds?: number;
  /** Seconds before a start from which cancelling costs a fee (0 = always free); default 0. */
  cancelWindow?: number;
}

/** 16 A at 230 V: what a household socket delivers at most. */
export const DEFAULT_MAX_WATTS = 3_680;

/** Registers a device as the contract runner (the host); resolves with the id from DeviceRegistered. */
export async function registerDevice(
  contract: LatchkeyContract,
  params: DeviceParams,
): Promise<{ deviceId: bigint; receipt: ContractTransactionReceipt }> {
  const kind =
    params.kind === 'lock' ? DeviceKind.Lock : params.kind === 'socket' ? DeviceKind.Socket : params.kind;
  const tx = await contract.registerDevice(
    params.signer,
    kind,
    params.pricePerSecond,
    params.pricePerWh ?? 0n,
    params.depositFactor ?? 200,
    params.minDuration ?? 60,
    params.maxDuration ?? 7 * 24 * 3600,
    params.maxWatts ?? ((params.pricePerWh ?? 0n) > 0n ? DEFAULT_MAX_WATTS : 0),
    params.slotSeconds ?? 60,
    params.cancelWindow ?? 0,
  );
  const receipt = await mined(tx.wait());
  const event = findLatchkeyEvent(receipt, 'DeviceRegistered');
  if (!event) throw new Error(`registerDevice tx ${receipt.hash} emitted no DeviceRegistered`);
  return { deviceId: event.args.deviceId, receipt };
}

/** A receipt from `tx.wait()`; ethers returns null only when asked for 0 confirmations. */
export async function mined(
  waiting: Promise<ContractTransactionReceipt | null>,
): Promise<ContractTransactionReceipt> {
  const receipt = await waiting;
  if (!receipt) throw new Error('transaction not mined');
  return receipt;
}
