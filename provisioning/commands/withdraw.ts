// `latchkey withdraw`: pays the host's credit (charges of settled rentals) out of the contract.

import { latchkeyAt, mined } from '../../contracts/deploy.js';
import { findLatchkeyEvent } from '../../contracts/events.js';
import {
  CHAIN_FLAGS,
  chainArgs,
  checkHostKey,
  HOST_KEYSTORE_FLAG,
  JSON_FLAG,
  openChain,
  requireHostKey,
  toJson,
} from '../chainFlags.js';
import { type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { HOST_KEY_HELP } from '../hostKey.js';
import { eth } from '../price.js';

const FLAGS = {
  rpc: CHAIN_FLAGS.rpc,
  contract: CHAIN_FLAGS.contract,
  ...HOST_KEYSTORE_FLAG,
  ...JSON_FLAG,
} as const;

export const withdraw: Command = {
  name: 'withdraw',
  summary: "pay the host key's credit out of the contract",
  help: () =>
    renderHelp(
      'latchkey withdraw --rpc <url> --contract <address> [--host-keystore <file>] [--json]',
      'Sends withdraw() from the host key: the whole credit (see `latchkey earnings`) goes to the host\n' +
        'address. With no credit, nothing is sent and it exits with code 1.',
      FLAGS,
      HOST_KEY_HELP,
    ),
  async run(argv, io) {
    const { values, problems } = parseFlags(argv, FLAGS);
    const args = chainArgs(values, problems);
    checkHostKey(io, values['host-keystore'], problems);
    if (problems.length > 0) throw new UsageError(problems);
    const host = await requireHostKey(io, values['host-keystore']);
    const provider = await openChain(args);
    try {
      const latchkey = latchkeyAt(args.contract, host.connect(provider));
      const credit = await latchkey.credit(host.address);
      if (credit === 0n)
        throw new Error(`nothing to withdraw: host ${host.address} has no credit on ${args.contract}`);
      const receipt = await mined((await latchkey.withdraw()).wait());
      const amount = findLatchkeyEvent(receipt, 'Withdrawn', args.contract)?.args.amount;
      if (amount === undefined) throw new Error(`withdraw tx ${receipt.hash} emitted no Withdrawn`);
      if (values.json)
        io.stdout(toJson({ host: host.address, amount, tx: receipt.hash, block: receipt.blockNumber }));
      else
        io.stdout(
          `host: ${host.address}\nwithdrawn: ${eth(amount)}\namount wei: ${amount}\ntx: ${receipt.hash}\n`,
        );
    } finally {
      provider.destroy();
    }
  },
};
