// `latchkey device list|update|close`: the host's devices as the chain has them, and the changes a
// host makes to one (prices, signer, open or closed to new rentals), each checked before it is sent.

import type { JsonRpcProvider, Wallet } from 'ethers';
import { latchkeyAt, MAX_ADVANCE_HOURS, MAX_BOOKING_SLOTS } from '../../contracts/deploy.js';
import { latchkeyRevert } from '../../contracts/revert.js';
import { type DeviceRecord, hostDevices } from '../chain/history.js';
import {
  CHAIN_FLAGS,
  type ChainArgs,
  chainArgs,
  checkHostKey,
  HOST_KEYSTORE_FLAG,
  JSON_FLAG,
  openChain,
  requireHostKey,
  toJson,
} from '../chainFlags.js';
import { address, integer, oneOf } from '../checks.js';
import { type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { HOST_KEY_ENV, HOST_KEY_HELP } from '../hostKey.js';
import { eth, ethAmount, perSecond, UINT128_MAX } from '../price.js';

const isoTime = (unix: bigint) => new Date(Number(unix) * 1000).toISOString().replace('.000Z', 'Z');

/** A device as `device list --json` prints it. */
export function deviceJson(d: DeviceRecord) {
  return {
    id: d.id,
    name: d.name ?? null,
    kind: d.kind,
    host: d.host,
    signer: d.signer,
    active: d.active,
    pricePerSecond: d.pricePerSecond,
    pricePerHour: d.pricePerSecond * 3600n,
    pricePerWh: d.pricePerWh,
    depositFactor: d.depositFactor,
    minDuration: d.minDuration,
    maxDuration: d.maxDuration,
    slotSeconds: d.slotSeconds,
    cancelWindow: d.cancelWindow,
    maxWatts: d.maxWatts,
    openRentals: d.open.map((r) => ({
      id: r.id,
      guest: r.guest,
      start: r.start,
      end: r.end,
      deposit: r.deposit,
    })),
    /** The latest end booked (bookings may come in any order: the calendar has free windows before it). */
    bookedUntil: d.bookedUntil,
  };
}

function deviceLine(d: DeviceRecord, now: bigint): string {
  const price = `${eth(d.pricePerSecond * 3600n)}/hour${d.pricePerWh > 0n ? ` + ${eth(d.pricePerWh)}/Wh` : ''}`;
  const live = d.open.find((r) => r.start <= now && now < r.end);
  const rental = live
    ? `rented until ${isoTime(live.end)} (rental ${live.id})`
    : d.open.length > 0
      ? `${d.open.length} open rental${d.open.length === 1 ? '' : 's'}`
      : 'no open rental';
  const free = d.bookedUntil > now ? `booked as far as ${isoTime(d.bookedUntil)}` : 'nothing booked ahead';
  return (
    `device ${d.id}${d.name ? ` "${d.name}"` : ''}: ${d.kind}, ${price}, signer ${d.signer}, ` +
    `${d.active ? 'active' : 'closed'}, ${rental}, ${free}\n`
  );
}

const LIST_FLAGS = {
  ...CHAIN_FLAGS,
  host: {
    type: 'string',
    value: '<address>',
    help: `only this host's devices (default: the host key's, from ${HOST_KEY_ENV}; else every device)`,
  },
  ...JSON_FLAG,
} as const;

export const deviceList: Command = {
  name: 'device list',
  summary: 'list devices on chain: kind, price, signer, active, open rentals, latest booked end',
  help: () =>
    renderHelp(
      'latchkey device list --rpc <url> --contract <address> [--host <address>] [--from-block <n>] [--json]',
      "Reads the host's DeviceRegistered logs (in chunks of --chunk-blocks) and each device's current\n" +
        'settings, and its rentals from the Rented/Extended/Cancelled/Settled logs.',
      LIST_FLAGS,
    ),
  async run(argv, io) {
    const { values, problems } = parseFlags(argv, LIST_FLAGS);
    const args = chainArgs(values, problems);
    let host = address(values.host, '--host', problems);
    const hex = io.env[HOST_KEY_ENV];
    if (host === undefined && hex !== undefined) {
      const p: string[] = [];
      checkHostKey(io, undefined, p);
      if (p.length > 0) problems.push(...p);
      else host = (await requireHostKey(io, undefined)).address;
    }
    if (problems.length > 0) throw new UsageError(problems);
    const provider = await openChain(args);
    try {
      const devices = await hostDevices(provider, args.contract, host, {
        fromBlock: args.fromBlock,
        chunkBlocks: args.chunkBlocks,
      });
      const now = BigInt((await provider.getBlock('latest'))?.timestamp ?? Math.floor(Date.now() / 1000));
      if (values.json) io.stdout(toJson(devices.map((d) => deviceJson(d))));
      else if (devices.length === 0) io.stdout(`no devices${host ? ` of host ${host}` : ''}\n`);
      else for (const d of devices) io.stdout(deviceLine(d, now));
    } finally {
      provider.destroy();
    }
  },
};

/** The device, checked to exist and to belong to `host`. */
async function ownDevice(provider: JsonRpcProvider, args: ChainArgs, id: bigint, host: Wallet) {
  const latchkey = latchkeyAt(args.contract, host.connect(provider));
  let d: Awaited<ReturnType<typeof latchkey.device>>;
  try {
    d = await latchkey.device(id);
  } catch (e) {
    if (latchkeyRevert(e)?.name === 'UnknownDevice')
      throw new UsageError([`--id: no device ${id} on contract ${args.contract}`]);
    throw e;
  }
  if (d.host !== host.address)
    throw new UsageError([
      `--id: device ${id} belongs to host ${d.host}, not to the host key ${host.address}`,
    ]);
  return { latchkey, d };
}

const ID_FLAG = { id: { type: 'string', required: true, value: '<device id>', help: 'the device' } } as const;
const SEND_FLAGS = {
  rpc: CHAIN_FLAGS.rpc,
  contract: CHAIN_FLAGS.contract,
  ...ID_FLAG,
  ...HOST_KEYSTORE_FLAG,
};

const UPDATE_FLAGS = {
  ...SEND_FLAGS,
  'price-per-hour': { type: 'string', value: '<ETH>', help: 'new rent per hour (rounded down per second)' },
  'price-per-wh': { type: 'string', value: '<ETH>', help: 'new price per watt-hour (sockets)' },
  'max-watts': {
    type: 'string',
    value: '<W>',
    help: 'new max power (sockets with an energy price): the energy each deposit prepays',
  },
  'min-minutes': { type: 'string', value: '<minutes>', help: 'new shortest rental' },
  'max-hours': { type: 'string', value: '<hours>', help: 'new longest rental, extensions included' },
  'slot-minutes': {
    type: 'string',
    value: '<minutes>',
    help: 'new calendar slot (a booking holds every slot it touches); only once the latest booking has ended',
  },
  'cancel-hours': {
    type: 'string',
    value: '<hours>',
    help: 'new cancel window for rentals booked from now: free until then before the start, then a fee growing to the rent (0 = always free)',
  },
  active: { type: 'string', value: 'yes|no', help: 'open (yes) or close (no) the device to new rentals' },
  signer: { type: 'string', value: '<address>', help: "a new gateway key as the device's receipt signer" },
  ...JSON_FLAG,
} as const;

function deviceId(value: string | undefined, problems: string[]): bigint | undefined {
  const n = integer(value, '--id', 1, Number.MAX_SAFE_INTEGER, problems);
  return n === undefined ? undefined : BigInt(n);
}

async function send(label: string, sent: Promise<{ wait(): Promise<{ hash: string } | null> }>) {
  const receipt = await (await sent).wait();
  if (!receipt) throw new Error(`${label} was not mined`);
  return { step: label, tx: receipt.hash };
}

export const deviceUpdate: Command = {
  name: 'device update',
  summary: "change a device's prices, signer, or whether it takes new rentals",
  help: () =>
    renderHelp(
      'latchkey device update --rpc <url> --contract <address> --id <n> [--price-per-hour <ETH>]\n' +
        '         [--price-per-wh <ETH>] [--max-watts <W>] [--min-minutes <n>] [--max-hours <n>]\n' +
        '         [--slot-minutes <n>] [--cancel-hours <n>] [--active yes|no] [--signer <address>]\n' +
        '         [--host-keystore <file>]',
      'Sends only what changes (setPrice, setCalendar, setDurations, setActive, setSigner). Open rentals keep the prices\n' +
        'and the signer they were rented under. The shortest rental is also the least an early checkout by\n' +
        'time charges, so the contract lets it be raised only while no booking of the device runs or waits.',
      UPDATE_FLAGS,
      HOST_KEY_HELP,
    ),
  async run(argv, io) {
    const { values, problems: p } = parseFlags(argv, UPDATE_FLAGS);
    const args = chainArgs(values, p);
    const id = deviceId(values.id, p);
    const perHour = ethAmount(values['price-per-hour'], '--price-per-hour', p);
    const perWh = ethAmount(values['price-per-wh'], '--price-per-wh', p);
    const active = oneOf(values.active, '--active', ['yes', 'no'] as const, p);
    const signer = address(values.signer, '--signer', p);
    const maxWatts = integer(values['max-watts'], '--max-watts', 0, 0xffff_ffff, p);
    const minMinutes = integer(values['min-minutes'], '--min-minutes', 1, Math.floor(0xffff_ffff / 60), p);
    const maxHours = integer(values['max-hours'], '--max-hours', 1, Math.floor(0xffff_ffff / 3600), p);
    const slotMinutes = integer(values['slot-minutes'], '--slot-minutes', 1, Math.floor(0xffff_ffff / 60), p);
    const cancelHours = integer(values['cancel-hours'], '--cancel-hours', 0, MAX_ADVANCE_HOURS, p);
    if (perHour !== undefined && perSecond(perHour).perSecond === 0n)
      p.push('--price-per-hour: must be at least 1 wei per second');
    if (perWh !== undefined && perWh > UINT128_MAX)
      p.push('--price-per-wh: too large for the contract (128 bits)');
    const changes = [
      'price-per-hour',
      'price-per-wh',
      'max-watts',
      'min-minutes',
      'max-hours',
      'slot-minutes',
      'cancel-hours',
      'active',
      'signer',
    ];
    const given = changes.filter((f) => values[f as keyof typeof values] !== undefined);
    if (given.length === 0 && p.length === 0)
      p.push(`nothing to change: give ${changes.map((f) => `--${f}`).join(', ')}`);
    checkHostKey(io, values['host-keystore'], p);
    if (p.length > 0 || id === undefined) throw new UsageError(p);

    const host = await requireHostKey(io, values['host-keystore']);
    const provider = await openChain({ ...args, fromBlock: 0, chunkBlocks: 1 });
    try {
      const { latchkey, d } = await ownDevice(provider, args, id, host);
      const newPerSecond = perHour === undefined ? d.pricePerSecond : perSecond(perHour).perSecond;
      const newPerWh = perWh ?? d.pricePerWh;
      const newMaxWatts = maxWatts === undefined ? d.maxWatts : BigInt(maxWatts);
      if (newPerWh > 0n && newMaxWatts === 0n)
        throw new UsageError(['--max-watts: an energy price needs the max power the socket delivers']);
      if (d.kind === 0n && newPerWh > 0n) throw new UsageError(['--price-per-wh: a lock meters no energy']);
      const steps: { step: string; tx: string }[] = [];
      if (newPerSecond !== d.pricePerSecond || newPerWh !== d.pricePerWh || newMaxWatts !== d.maxWatts)
        steps.push(await send('price', latchkey.setPrice(id, newPerSecond, newPerWh, newMaxWatts)));
      const newMin = minMinutes === undefined ? d.minDuration : BigInt(minMinutes * 60);
      const newMax = maxHours === undefined ? d.maxDuration : BigInt(maxHours * 3600);
      if (newMin > newMax)
        throw new UsageError([
          `--min-minutes: the shortest rental (${newMin} s) would be longer than the longest (${newMax} s)`,
        ]);
      const now = BigInt((await provider.getBlock('latest'))?.timestamp ?? 0);
      const newSlot = slotMinutes === undefined ? d.slotSeconds : BigInt(slotMinutes * 60);
      const newCancel = cancelHours === undefined ? d.cancelWindow : BigInt(cancelHours * 3600);
      if (newMax > newSlot * BigInt(MAX_BOOKING_SLOTS))
        throw new UsageError([
          `--max-hours: a ${newMax} s rental would span more than ${MAX_BOOKING_SLOTS} slots of ${newSlot} s; raise --slot-minutes`,
        ]);
      if (newSlot !== d.slotSeconds && d.bookedUntil > now)
        throw new UsageError([
          `--slot-minutes: device ${id} is booked until ${isoTime(d.bookedUntil)}; ` +
            'the slot length can change only after that (the cancel window can change now)',
        ]);
      const calendar = newSlot !== d.slotSeconds || newCancel !== d.cancelWindow;
      // A longer slot first when it makes room for a longer rental; a shorter one after the durations.
      const calendarFirst = newSlot >= d.slotSeconds;
      if (calendar && calendarFirst)
        steps.push(await send('calendar', latchkey.setCalendar(id, newSlot, newCancel)));
      if (newMin !== d.minDuration || newMax !== d.maxDuration) {
        if (newMin > d.minDuration && d.bookedUntil > now)
          throw new UsageError([
            `--min-minutes: device ${id} is booked until ${new Date(Number(d.bookedUntil) * 1000).toISOString()}; ` +
              'the shortest rental can be raised only after that (lowering it works now)',
          ]);
        steps.push(await send('durations', latchkey.setDurations(id, newMin, newMax)));
      }
      if (calendar && !calendarFirst)
        steps.push(await send('calendar', latchkey.setCalendar(id, newSlot, newCancel)));
      if (active !== undefined && (active === 'yes') !== d.active)
        steps.push(await send('active', latchkey.setActive(id, active === 'yes')));
      if (signer !== undefined && signer !== d.signer)
        steps.push(await send('signer', latchkey.setSigner(id, signer)));
      const after = await latchkey.device(id);
      const result = {
        device: id,
        pricePerSecond: after.pricePerSecond,
        pricePerWh: after.pricePerWh,
        minDuration: after.minDuration,
        maxDuration: after.maxDuration,
        slotSeconds: after.slotSeconds,
        cancelWindow: after.cancelWindow,
        active: after.active,
        signer: after.signer,
        sent: steps,
      };
      if (values.json) io.stdout(toJson(result));
      else
        io.stdout(
          [
            `device: ${id}`,
            `price: ${after.pricePerSecond} wei/second = ${eth(after.pricePerSecond * 3600n)}/hour`,
            `price per Wh: ${eth(after.pricePerWh)}`,
            `rental length: ${after.minDuration} s to ${after.maxDuration} s`,
            `calendar slot: ${after.slotSeconds} s; cancel window: ${after.cancelWindow} s`,
            `active: ${after.active ? 'yes' : 'no'}`,
            `signer: ${after.signer}`,
            ...steps.map((s) => `tx ${s.step}: ${s.tx}`),
            '',
          ].join('\n'),
        );
      if (steps.length === 0) io.stderr('note: the device already had these settings; nothing was sent\n');
    } finally {
      provider.destroy();
    }
  },
};

const CLOSE_FLAGS = { ...SEND_FLAGS } as const;

export const deviceClose: Command = {
  name: 'device close',
  summary: 'close a device to new rentals (open ones run to their end)',
  help: () =>
    renderHelp(
      'latchkey device close --rpc <url> --contract <address> --id <n> [--host-keystore <file>]',
      'Marks the device inactive (setActive false): it takes no new rentals; rentals already paid run to\n' +
        'their end and settle as usual. `device update --active yes` opens it again.',
      CLOSE_FLAGS,
      HOST_KEY_HELP,
    ),
  async run(argv, io) {
    const { values, problems: p } = parseFlags(argv, CLOSE_FLAGS);
    const args = chainArgs(values, p);
    const id = deviceId(values.id, p);
    checkHostKey(io, values['host-keystore'], p);
    if (p.length > 0 || id === undefined) throw new UsageError(p);
    const host = await requireHostKey(io, values['host-keystore']);
    const provider = await openChain({ ...args, fromBlock: 0, chunkBlocks: 1 });
    try {
      const { latchkey, d } = await ownDevice(provider, args, id, host);
      if (!d.active) {
        io.stdout(`device: ${id}\nactive: no\n`);
        io.stderr('note: the device was already closed; nothing was sent\n');
        return;
      }
      const { tx } = await send('setActive', latchkey.setActive(id, false));
      io.stdout(`device: ${id}\nactive: no\ntx: ${tx}\n`);
    } finally {
      provider.destroy();
    }
  },
};
