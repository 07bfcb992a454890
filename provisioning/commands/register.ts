// `latchkey register`: registers a device on the contract from the host key, with the gateway's key
// as its receipt signer and prices converted exactly to the contract's wei units.

import {
  DEFAULT_MAX_WATTS,
  type DeviceParams,
  latchkeyAt,
  latchkeyInterface,
  MAX_ADVANCE_HOURS,
  MAX_BOOKING_SLOTS,
  MAX_DEPOSIT_FACTOR,
  registerDevice,
} from '../../contracts/deploy.js';
import { DeviceKind } from '../../contracts/typedData.js';
import { checkName, NameTaggingSigner, tagCalldata } from '../chain/nameTag.js';
import { findRegistered } from '../chain/registered.js';
import { CHAIN_FLAGS, logRangeArgs } from '../chainFlags.js';
import { address, httpUrl, integer, oneOf } from '../checks.js';
import { type CliIo, type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { checkHostKey, HOST_KEY_HELP, loadHostKey } from '../hostKey.js';
import { eth, ethAmount, MIN_PER_HOUR_ETH, perSecond, UINT128_MAX } from '../price.js';
import { connect } from '../rpc.js';

const UINT32_MAX = 2 ** 32 - 1;

const FLAGS = {
  rpc: {
    type: 'string',
    required: true,
    value: '<url>',
    help: 'JSON-RPC URL of the chain (http:// or https://)',
  },
  contract: { type: 'string', required: true, value: '<address>', help: 'the Latchkey contract' },
  signer: {
    type: 'string',
    required: true,
    value: '<address>',
    help: "the gateway key's address (from latchkey keygen): signs this device's receipts",
  },
  kind: {
    type: 'string',
    required: true,
    value: 'lock|socket',
    help: 'a lock pulses open per unlock; a socket stays on',
  },
  'price-per-hour': {
    type: 'string',
    required: true,
    value: '<ETH>',
    help: 'rent in ETH per hour, charged per second (rounded down to whole wei per second)',
  },
  'price-per-wh': {
    type: 'string',
    value: '<ETH>',
    help: 'sockets with a meter: ETH per watt-hour (default 0)',
  },
  'deposit-factor': {
    type: 'string',
    value: '<percent>',
    help: `deposit as a percent of the rent, 100 to ${MAX_DEPOSIT_FACTOR} (default 200: twice the rent)`,
  },
  'max-watts': {
    type: 'string',
    value: '<W>',
    help: `sockets with an energy price: the most power it delivers; each deposit prepays that for the whole rental (default ${DEFAULT_MAX_WATTS})`,
  },
  'min-minutes': { type: 'string', value: '<minutes>', help: 'shortest rental (default 1)' },
  'max-hours': {
    type: 'string',
    value: '<hours>',
    help: 'longest rental, extensions included (default 168)',
  },
  'slot-minutes': {
    type: 'string',
    value: '<minutes>',
    help: 'calendar slot: a booking holds every slot it touches; a booking may span at most 10,080 slots (default 1)',
  },
  'cancel-hours': {
    type: 'string',
    value: '<hours>',
    help: 'cancelling at least this long before the start is free; later the fee grows to the whole rent at the start (default 24, 0 = always free)',
  },
  'host-keystore': { type: 'string', value: '<file>', help: 'JSON keystore of the host key' },
  name: {
    type: 'string',
    value: '<name>',
    help: 'a name for the device, kept on chain; with it, registering again for this signer does nothing',
  },
  'from-block': CHAIN_FLAGS['from-block'],
  'chunk-blocks': CHAIN_FLAGS['chunk-blocks'],
  'dry-run': {
    type: 'boolean',
    help: 'print the transaction instead of sending it (needs no key, no network)',
  },
} as const;

interface Plan {
  rpc: string;
  contract: string;
  params: Required<DeviceParams> & { kind: 'lock' | 'socket' };
  /** The hourly price as given, in wei (the charged one may be lower: rounded down per second). */
  requestedPerHour: bigint;
  hostKeystore: string | undefined;
  dryRun: boolean;
  name: string | undefined;
  range: { fromBlock: number; chunkBlocks: number };
}

/** Every problem of the command line, or the registration it asks for. */
function plan(argv: string[], io: CliIo): Plan {
  const { values, problems: p } = parseFlags(argv, FLAGS);
  const rpc = httpUrl(values.rpc, '--rpc', p);
  const contract = address(values.contract, '--contract', p);
  const signer = address(values.signer, '--signer', p);
  const kind = oneOf(values.kind, '--kind', ['lock', 'socket'] as const, p);
  const perHour = ethAmount(values['price-per-hour'], '--price-per-hour', p);
  const perWh = ethAmount(values['price-per-wh'] ?? '0', '--price-per-wh', p);
  const depositFactor = integer(
    values['deposit-factor'] ?? '200',
    '--deposit-factor',
    100,
    MAX_DEPOSIT_FACTOR,
    p,
  );
  const minMinutes = integer(
    values['min-minutes'] ?? '1',
    '--min-minutes',
    1,
    Math.floor(UINT32_MAX / 60),
    p,
  );
  const maxHours = integer(values['max-hours'] ?? '168', '--max-hours', 1, Math.floor(UINT32_MAX / 3600), p);
  const slotMinutes = integer(
    values['slot-minutes'] ?? '1',
    '--slot-minutes',
    1,
    Math.floor(UINT32_MAX / 60),
    p,
  );
  const cancelHours = integer(values['cancel-hours'] ?? '24', '--cancel-hours', 0, MAX_ADVANCE_HOURS, p);
  if (slotMinutes !== undefined && maxHours !== undefined && maxHours * 60 > slotMinutes * MAX_BOOKING_SLOTS)
    p.push(
      `--max-hours: a ${maxHours}-hour rental would span more than ${MAX_BOOKING_SLOTS} slots of ${slotMinutes} minute(s); raise --slot-minutes`,
    );
  const maxWatts = integer(values['max-watts'] ?? String(DEFAULT_MAX_WATTS), '--max-watts', 1, UINT32_MAX, p);

  const price = perHour === undefined ? undefined : perSecond(perHour);
  if (perHour === 0n) p.push('--price-per-hour: must be more than 0');
  else if (price?.perSecond === 0n)
    p.push(`--price-per-hour: below 1 wei per second; the least is ${MIN_PER_HOUR_ETH} ETH/hour`);
  if (kind === 'lock' && perWh !== undefined && perWh > 0n)
    p.push('--price-per-wh: a lock meters no energy; only sockets take a price per watt-hour');
  if (perWh !== undefined && perWh > UINT128_MAX)
    p.push('--price-per-wh: too large for the contract (128 bits)');
  if (minMinutes !== undefined && maxHours !== undefined && minMinutes * 60 > maxHours * 3600)
    p.push(`--min-minutes: ${minMinutes} minutes is longer than --max-hours ${maxHours}`);
  if (price && price.perSecond > 0n && maxHours !== undefined && depositFactor !== undefined) {
    // the contract refuses a device whose largest deposit would not fit a rental's 128-bit deposit
    const seconds = BigInt(maxHours * 3600);
    const energyWh = (BigInt(maxWatts ?? 0) * seconds + 3599n) / 3600n;
    const largestDeposit =
      (price.perSecond * seconds * BigInt(depositFactor)) / 100n + (perWh ?? 0n) * energyWh;
    if (largestDeposit > UINT128_MAX)
      p.push('--price-per-hour: too high: the deposit for a --max-hours rental would not fit 128 bits');
  }
  checkHostKey(io, values['host-keystore'], p, values['dry-run'] !== true);
  if (values.name !== undefined) checkName(values.name, '--name', p);
  const range = logRangeArgs(values, p);
  if (p.length > 0) throw new UsageError(p);

  return {
    rpc: rpc as string,
    contract: contract as string,
    params: {
      signer: signer as string,
      kind: kind as 'lock' | 'socket',
      pricePerSecond: (price as { perSecond: bigint }).perSecond,
      pricePerWh: perWh as bigint,
      depositFactor: depositFactor as number,
      minDuration: (minMinutes as number) * 60,
      maxDuration: (maxHours as number) * 3600,
      maxWatts: perWh !== undefined && perWh > 0n ? (maxWatts as number) : 0,
      slotSeconds: (slotMinutes as number) * 60,
      cancelWindow: (cancelHours as number) * 3600,
    },
    requestedPerHour: perHour as bigint,
    hostKeystore: values['host-keystore'],
    dryRun: values['dry-run'] === true,
    name: values.name,
    range,
  };
}

export const register: Command = {
  name: 'register',
  summary: 'register a device (lock or socket) on the contract; prints its id',
  help: () =>
    renderHelp(
      'latchkey register --rpc <url> --contract <address> --signer <address> --kind lock|socket\n' +
        '         --price-per-hour <ETH> [--price-per-wh <ETH>] [--deposit-factor 200] [--min-minutes 1]\n' +
        '         [--max-hours 168] [--host-keystore <file>] [--dry-run]',
      'Registers a device owned by the host key. The contract charges per second: an hourly price that is\n' +
        'not a whole number of wei per second is rounded down, and the effective hourly price is printed.',
      FLAGS,
      HOST_KEY_HELP,
    ),

  async run(argv: string[], io: CliIo): Promise<void> {
    const { rpc, contract, params, requestedPerHour, hostKeystore, dryRun, name, range } = plan(argv, io);
    const hourly = params.pricePerSecond * 3600n;
    if (hourly !== requestedPerHour) {
      io.stderr(
        `note: ${eth(requestedPerHour)}/hour is not a whole number of wei per second; rounded down to ` +
          `${params.pricePerSecond} wei/second = ${eth(hourly)}/hour\n`,
      );
    }
    const host = await loadHostKey(io, hostKeystore);

    if (dryRun) {
      const args = [
        params.signer,
        params.kind === 'lock' ? DeviceKind.Lock : DeviceKind.Socket,
        params.pricePerSecond,
        params.pricePerWh,
        params.depositFactor,
        params.minDuration,
        params.maxDuration,
        params.maxWatts ?? 0,
        params.slotSeconds,
        params.cancelWindow,
      ] as const;
      io.stdout(
        [
          'dry run: nothing sent',
          `rpc: ${rpc}`,
          `to: ${contract}`,
          `from: ${host?.address ?? '(no host key given)'}`,
          `call: registerDevice(signer ${params.signer}, kind ${args[1]} (${params.kind}), pricePerSecond ${params.pricePerSecond}, ` +
            `pricePerWh ${params.pricePerWh}, depositFactor ${params.depositFactor}, minDuration ${params.minDuration}, maxDuration ${params.maxDuration}, maxWatts ${params.maxWatts ?? 0}, ` +
            `slotSeconds ${params.slotSeconds}, cancelWindow ${params.cancelWindow})`,
          `price: ${params.pricePerSecond} wei/second = ${eth(hourly)}/hour`,
          ...(name === undefined ? [] : [`name: ${name}`]),
          `data: ${((data) => (name === undefined ? data : tagCalldata(data, name)))(latchkeyInterface.encodeFunctionData('registerDevice', args))}`,
          // what the gateway's agent config gains once the id is known (it is printed when sent)
          `config: + devices[] ${JSON.stringify({ id: '<id>', kind: params.kind, relay: { driver: 'sim' } })}`,
          `config flag: latchkey config ... --device <id>:${params.kind}[:<relay JSON>]`,
          '',
        ].join('\n'),
      );
      return;
    }

    if (!host) throw new UsageError(['no host key']);
    const provider = await connect(rpc);
    try {
      if ((await provider.getCode(contract)) === '0x') {
        const { chainId } = await provider.getNetwork();
        throw new Error(`no contract at ${contract} on chain ${chainId} (${rpc})`);
      }
      if (name !== undefined) {
        const want = { host: host.address, signer: params.signer, name };
        const found = await findRegistered(provider, contract, want, range);
        if (found) {
          io.stdout(
            `device: ${found.id}\nkind: ${found.kind}\nsigner: ${found.signer}\nname: ${name}\nalready registered: yes\n`,
          );
          io.stderr(
            `note: device ${found.id} is already registered for this signer as "${name}"; nothing was sent\n`,
          );
          return;
        }
      }
      const sender =
        name === undefined ? host.connect(provider) : new NameTaggingSigner(host.connect(provider), name);
      const { deviceId, receipt } = await registerDevice(latchkeyAt(contract, sender), params);
      io.stdout(
        [
          `device: ${deviceId}`,
          `kind: ${params.kind}`,
          `signer: ${params.signer}`,
          `price: ${params.pricePerSecond} wei/second = ${eth(hourly)}/hour`,
          ...(params.pricePerWh > 0n
            ? [`price per Wh: ${params.pricePerWh} wei = ${eth(params.pricePerWh)}`]
            : []),
          `tx: ${receipt.hash}`,
          `block: ${receipt.blockNumber}`,
          '',
        ].join('\n'),
      );
      io.stderr(
        `Add it to the gateway's agent config: latchkey config ... --device ${deviceId}:${params.kind}\n`,
      );
    } finally {
      provider.destroy();
    }
  },
};
