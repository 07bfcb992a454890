// `latchkey fund`: sends ETH from the host key to the gateway key, which pays for the checkout
// transactions that settle rentals (guests' refunds wait on them).

import { checkoutCost } from '../chain/checkoutCost.js';
import { checkHostKey, HOST_KEYSTORE_FLAG, requireHostKey } from '../chainFlags.js';
import { address, httpUrl } from '../checks.js';
import { type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { HOST_KEY_HELP } from '../hostKey.js';
import { eth, ethAmount } from '../price.js';
import { connect } from '../rpc.js';

const FLAGS = {
  rpc: { type: 'string', required: true, value: '<url>', help: 'JSON-RPC URL of the chain' },
  to: {
    type: 'string',
    required: true,
    value: '<address>',
    help: "the gateway key's address (from latchkey keygen)",
  },
  amount: { type: 'string', required: true, value: '<ETH>', help: 'how much to send' },
  ...HOST_KEYSTORE_FLAG,
} as const;

export const fund: Command = {
  name: 'fund',
  summary: 'send ETH to the gateway key for its checkout transactions',
  help: () =>
    renderHelp(
      'latchkey fund --rpc <url> --to <gateway address> --amount <ETH> [--host-keystore <file>]',
      'Sends --amount from the host key to the gateway key and prints the new balance and how many\n' +
        'checkouts it pays for at the current fee. Without funds the agent cannot settle rentals.',
      FLAGS,
      HOST_KEY_HELP,
    ),
  async run(argv, io) {
    const { values, problems } = parseFlags(argv, FLAGS);
    const rpc = httpUrl(values.rpc, '--rpc', problems);
    const to = address(values.to, '--to', problems);
    const amount = ethAmount(values.amount, '--amount', problems);
    if (amount === 0n) problems.push('--amount: must be more than 0');
    checkHostKey(io, values['host-keystore'], problems);
    if (problems.length > 0 || !rpc || !to || amount === undefined) throw new UsageError(problems);
    const host = await requireHostKey(io, values['host-keystore']);
    const provider = await connect(rpc);
    try {
      const have = await provider.getBalance(host.address);
      if (have < amount)
        throw new Error(`insufficient funds: the host key ${host.address} holds ${eth(have)}`);
      const receipt = await (await host.connect(provider).sendTransaction({ to, value: amount })).wait();
      if (!receipt) throw new Error('the transfer was not mined');
      const [balance, cost] = await Promise.all([provider.getBalance(to), checkoutCost(provider)]);
      io.stdout(
        `to: ${to}\nsent: ${eth(amount)}\nbalance: ${eth(balance)}\ncheckouts: ${cost === 0n ? 'unlimited (no fee)' : String(balance / cost)}\ntx: ${receipt.hash}\n`,
      );
    } finally {
      provider.destroy();
    }
  },
};
