// `latchkey deploy`: deploys the Latchkey contract from the host key and prints where and in which
// block, which the agent config needs (chain.contract, chain.startBlock).

import { deployLatchkey } from '../../contracts/deploy.js';
import { httpUrl, integer } from '../checks.js';
import { type CliIo, type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { checkHostKey, HOST_KEY_HELP, loadHostKey } from '../hostKey.js';
import { connect } from '../rpc.js';

const MAX_GRACE_HOURS = 24 * 365;

const FLAGS = {
  rpc: {
    type: 'string',
    required: true,
    value: '<url>',
    help: 'JSON-RPC URL of the chain (http:// or https://)',
  },
  'grace-hours': {
    type: 'string',
    value: '<hours>',
    help: 'after a rental ends, how long only its guest may settle it by time (default 1)',
  },
  'host-keystore': { type: 'string', value: '<file>', help: 'JSON keystore of the host key' },
} as const;

export const deploy: Command = {
  name: 'deploy',
  summary: 'deploy the Latchkey contract; prints its address and block',
  help: () =>
    renderHelp(
      'latchkey deploy --rpc <url> [--grace-hours 1] [--host-keystore <file>]',
      'Deploys the Latchkey rental contract from the host key and waits for it to be mined. Prints the\n' +
        'contract address and its block: the agent config takes them as chain.contract and chain.startBlock.',
      FLAGS,
      HOST_KEY_HELP,
    ),

  async run(argv: string[], io: CliIo): Promise<void> {
    const { values, problems } = parseFlags(argv, FLAGS);
    const rpc = httpUrl(values.rpc, '--rpc', problems);
    const graceHours = integer(values['grace-hours'] ?? '1', '--grace-hours', 0, MAX_GRACE_HOURS, problems);
    checkHostKey(io, values['host-keystore'], problems);
    if (problems.length > 0 || rpc === undefined || graceHours === undefined) throw new UsageError(problems);

    const host = await loadHostKey(io, values['host-keystore']);
    if (!host) throw new UsageError(['no host key']);
    const provider = await connect(rpc);
    try {
      const { chainId } = await provider.getNetwork();
      const d = await deployLatchkey(host.connect(provider), { graceSeconds: BigInt(graceHours) * 3600n });
      io.stdout(
        `contract: ${d.address}\nblock: ${d.blockNumber}\ntx: ${d.receipt.hash}\nchain id: ${chainId}\nhost: ${host.address}\n`,
      );
      io.stderr(
        `Next: latchkey register --rpc ${rpc} --contract ${d.address} ...; ` +
          `latchkey config ... --contract ${d.address} --start-block ${d.blockNumber}\n`,
      );
    } finally {
      provider.destroy();
    }
  },
};
