// `latchkey earnings`: per device, what its rentals brought (from the contract's Rented, Cancelled and
// Settled logs, read in bounded chunks), and the host's credit that `withdraw` pays out now.

import { getAddress } from 'ethers';
import { latchkeyAt } from '../../contracts/deploy.js';
import { hostDevices } from '../chain/history.js';
import {
  CHAIN_FLAGS,
  chainArgs,
  checkHostKey,
  JSON_FLAG,
  openChain,
  requireHostKey,
  toJson,
} from '../chainFlags.js';
import { address } from '../checks.js';
import { type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { HOST_KEY_ENV } from '../hostKey.js';
import { eth } from '../price.js';

const FLAGS = {
  ...CHAIN_FLAGS,
  host: {
    type: 'string',
    value: '<address>',
    help: `the host (default: the host key's, from ${HOST_KEY_ENV})`,
  },
  ...JSON_FLAG,
} as const;

export const earnings: Command = {
  name: 'earnings',
  summary: 'per device: rentals, charged, refunded, cancel fees; and the credit you can withdraw',
  help: () =>
    renderHelp(
      'latchkey earnings --rpc <url> --contract <address> [--host <address>] [--from-block <n>] [--json]',
      "Adds up each of the host's devices' rentals from the contract's logs: rentals made, settled and\n" +
        'cancelled, the charges credited to the host, the refunds sent to guests and the fees of late\n' +
        'cancels (inside a cancel window, also credited to the host); then the credit the\n' +
        'contract holds for the host (withdrawable with `latchkey withdraw`). Open rentals are not counted\n' +
        'until they settle.',
      FLAGS,
    ),
  async run(argv, io) {
    const { values, problems } = parseFlags(argv, FLAGS);
    const args = chainArgs(values, problems);
    let host = address(values.host, '--host', problems);
    if (host === undefined) {
      checkHostKey(io, undefined, problems, false);
      if (io.env[HOST_KEY_ENV] === undefined) problems.push(`no host: give --host or set ${HOST_KEY_ENV}`);
    }
    if (problems.length > 0) throw new UsageError(problems);
    host ??= (await requireHostKey(io, undefined)).address;
    const provider = await openChain(args);
    try {
      const devices = await hostDevices(provider, args.contract, getAddress(host), {
        fromBlock: args.fromBlock,
        chunkBlocks: args.chunkBlocks,
      });
      const credit = await latchkeyAt(args.contract, provider).credit(host);
      const rows = devices.map((d) => ({
        device: d.id,
        name: d.name ?? null,
        kind: d.kind,
        rentals: d.rentals,
        settled: d.settled,
        cancelled: d.cancelled,
        open: d.open.length,
        charged: d.charged,
        refunded: d.refunded,
        cancelFees: d.cancelFees,
      }));
      const charged = rows.reduce((a, r) => a + r.charged, 0n);
      const cancelFees = rows.reduce((a, r) => a + r.cancelFees, 0n);
      if (values.json) {
        io.stdout(toJson({ host, devices: rows, charged, cancelFees, credit }));
        return;
      }
      for (const r of rows)
        io.stdout(
          `device ${r.device}${r.name ? ` "${r.name}"` : ''} (${r.kind}): ${r.rentals} rentals ` +
            `(${r.settled} settled, ${r.cancelled} cancelled, ${r.open} open), charged ${eth(r.charged)}, ` +
            `refunded ${eth(r.refunded)}${r.cancelFees > 0n ? `, cancel fees ${eth(r.cancelFees)}` : ''}\n`,
        );
      io.stdout(
        `host: ${host}\ncharged: ${eth(charged)}\ncancel fees: ${eth(cancelFees)}\ncredit: ${eth(credit)}\n`,
      );
    } finally {
      provider.destroy();
    }
  },
};
