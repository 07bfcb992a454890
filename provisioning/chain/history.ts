// What the chain says about a host's devices: their registrations (with the names tagged onto them),
// their current settings, and every rental event of them, read from the contract's logs in chunks.

import { getAddress, type Provider, toBeHex, zeroPadValue } from 'ethers';
import { latchkeyAt, latchkeyInterface } from '../../contracts/deploy.js';
import { parseLatchkeyLog } from '../../contracts/events.js';
import { type LogRange, pagedLogs } from './logs.js';
import { nameOfCalldata } from './nameTag.js';

export interface OpenRental {
  id: bigint;
  guest: string;
  start: bigint;
  end: bigint;
  deposit: bigint;
}

export interface DeviceRecord {
  id: bigint;
  name: string | undefined;
  host: string;
  kind: 'lock' | 'socket';
  signer: string;
  active: boolean;
  pricePerSecond: bigint;
  pricePerWh: bigint;
  depositFactor: number;
  minDuration: number;
  maxDuration: number;
  /** The calendar's slot length and the cancel window of new rentals, in seconds. */
  slotSeconds: number;
  cancelWindow: number;
  /** The most power the socket delivers (sizes a rental's energy allowance); 0 when not metered. */
  maxWatts: number;
  bookedUntil: bigint;
  registeredBlock: number;
  /** Rentals ever made, settled, cancelled; what settling charged and refunded. */
  rentals: number;
  settled: number;
  cancelled: number;
  charged: bigint;
  refunded: bigint;
  /** What late cancels paid the host (each rental's fee inside its cancel window). */
  cancelFees: bigint;
  /** Rented and neither settled nor cancelled yet, oldest first. */
  open: OpenRental[];
}

const topic = (name: string) => latchkeyInterface.getEvent(name)?.topicHash as string;
const word = (n: bigint | string) => zeroPadValue(typeof n === 'string' ? n : toBeHex(n), 32);

/** Every device `host` registered on `contract` (all hosts' when `host` is undefined), with its rentals. */
export async function hostDevices(
  provider: Provider,
  contract: string,
  host: string | undefined,
  range: LogRange,
): Promise<DeviceRecord[]> {
  const toBlock = range.toBlock ?? (await provider.getBlockNumber());
  const scan = { ...range, toBlock };
  const registered = await pagedLogs(
    provider,
    {
      address: contract,
      topics: [topic('DeviceRegistered'), null, host === undefined ? null : word(getAddress(host))],
    },
    scan,
  );
  const latchkey = latchkeyAt(contract, provider);
  const devices = new Map<bigint, DeviceRecord>();
  for (const log of registered) {
    const event = parseLatchkeyLog(log, contract);
    if (event?.name !== 'DeviceRegistered') continue;
    const id = event.args.deviceId;
    const [d, tx] = await Promise.all([latchkey.device(id), provider.getTransaction(log.transactionHash)]);
    devices.set(id, {
      id,
      name: tx ? nameOfCalldata(tx.data) : undefined,
      host: d.host,
      kind: d.kind === 0n ? 'lock' : 'socket',
      signer: d.signer,
      active: d.active,
      pricePerSecond: d.pricePerSecond,
      pricePerWh: d.pricePerWh,
      depositFactor: Number(d.depositFactor),
      minDuration: Number(d.minDuration),
      maxDuration: Number(d.maxDuration),
      slotSeconds: Number(d.slotSeconds),
      cancelWindow: Number(d.cancelWindow),
      maxWatts: Number(d.maxWatts),
      bookedUntil: d.bookedUntil,
      registeredBlock: log.blockNumber,
      rentals: 0,
      settled: 0,
      cancelled: 0,
      charged: 0n,
      refunded: 0n,
      cancelFees: 0n,
      open: [],
    });
  }
  if (devices.size === 0) return [];

  const ids = [...devices.keys()];
  const rentalTopics = ['Rented', 'Extended', 'Cancelled', 'Settled'].map(topic);
  const open = new Map<bigint, OpenRental>();
  // topics[2] is the device id in all four events; at most 100 ids per filter keep requests small.
  for (let i = 0; i < ids.length; i += 100) {
    const logs = await pagedLogs(
      provider,
      { address: contract, topics: [rentalTopics, null, ids.slice(i, i + 100).map((id) => word(id))] },
      {
        ...scan,
        fromBlock: Math.min(...ids.slice(i, i + 100).map((id) => devices.get(id)?.registeredBlock ?? 0)),
      },
    );
    for (const log of logs) {
      const event = parseLatchkeyLog(log, contract);
      if (!event) continue;
      if (event.name === 'Rented') {
        const d = devices.get(event.args.deviceId);
        if (!d) continue;
        d.rentals++;
        open.set(event.args.rentalId, {
          id: event.args.rentalId,
          guest: event.args.guest,
          start: event.args.start,
          end: event.args.end,
          deposit: event.args.deposit,
        });
      } else if (event.name === 'Extended') {
        const r = open.get(event.args.rentalId);
        if (r) {
          r.end = event.args.end;
          r.deposit = event.args.deposit;
        }
      } else if (event.name === 'Cancelled') {
        const d = devices.get(event.args.deviceId);
        if (d) {
          d.cancelled++;
          d.cancelFees += event.args.fee;
        }
        open.delete(event.args.rentalId);
      } else if (event.name === 'Settled') {
        const d = devices.get(event.args.deviceId);
        if (!d) continue;
        d.settled++;
        d.charged += event.args.charge;
        d.refunded += event.args.refund;
        open.delete(event.args.rentalId);
      }
    }
  }
  for (const r of open.values()) devices.get(r.id >> 64n)?.open.push(r);
  return [...devices.values()];
}
