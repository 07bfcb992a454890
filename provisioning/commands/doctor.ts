// `latchkey doctor`: run on the gateway, checks what the agent needs to work and prints a checklist
// with a fix for every failing line; exits 1 if any check fails.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type AgentConfig, loadConfig } from '../../agent/config.js';
import { LatchkeyError } from '../../agent/errors.js';
import { toJson } from '../chainFlags.js';
import { type Command, UsageError } from '../command.js';
import {
  brokerChecks,
  type Check,
  chainChecks,
  clockSync,
  fileChecks,
  gatewayChecks,
  hardwareChecks,
  serviceCheck,
} from '../doctor/checks.js';
import { parseFlags, renderHelp } from '../flags.js';

const FLAGS = {
  config: { type: 'string', value: '<file>', help: "the agent's config (default $LATCHKEY_CONFIG)" },
  'no-service': { type: 'boolean', help: 'do not check the systemd service (e.g. the agent runs otherwise)' },
  json: { type: 'boolean', help: 'print the checks as JSON' },
} as const;

const MARK = { ok: '✓', warn: '!', fail: '✗', skip: '-' } as const;

export const doctor: Command = {
  name: 'doctor',
  summary: 'check this gateway: clock, RPCs, contract, broker and ACL, key, funds, devices, disk, service',
  help: () =>
    renderHelp(
      'latchkey doctor [--config <file>] [--no-service] [--json]',
      'Loads the agent config as the agent does (the keystore password from LATCHKEY_KEY_PASSWORD or\n' +
        'LATCHKEY_KEY_PASSWORD_FILE) and checks: the clock (NTP, and against the chain), every RPC (reachable,\n' +
        "chain id, contract code), the broker login and its ACL (own prefix writable, another gateway's not),\n" +
        "the keystore's and config's permissions, the gateway key's funds for checkouts, each device (on chain,\n" +
        'kind, signer), GPIO/serial access, disk space and the service. Exits 1 when a check fails.',
      FLAGS,
    ),
  async run(argv, io) {
    const { values, problems } = parseFlags(argv, FLAGS);
    const configFile = values.config ?? io.env.LATCHKEY_CONFIG;
    if (configFile === undefined) problems.push('no config: give --config <file> or set LATCHKEY_CONFIG');
    else if (!existsSync(configFile)) problems.push(`--config: ${configFile} does not exist`);
    if (problems.length > 0) throw new UsageError(problems);

    const checks: Check[] = [];
    let config: AgentConfig | undefined;
    try {
      config = loadConfig({ ...io.env, LATCHKEY_CONFIG: configFile });
      checks.push({ name: 'config', verdict: 'ok', detail: `${configFile}: accepted by the agent` });
    } catch (e) {
      if (!(e instanceof LatchkeyError)) throw e;
      checks.push({
        name: 'config',
        verdict: 'fail',
        detail: e.message.replace(/\n/g, '; '),
        fix: 'fix the listed settings (latchkey config writes a checked one)',
      });
    }
    if (config) {
      const raw = JSON.parse(readFileSync(configFile as string, 'utf8')) as { gatewayKeystore?: string };
      checks.push(clockSync());
      const chain = await chainChecks(config);
      checks.push(...chain.checks);
      if (chain.provider) {
        checks.push(...(await gatewayChecks(config, chain.provider)));
        chain.provider.destroy();
      }
      checks.push(...(await brokerChecks(config)));
      const keystore = io.env.LATCHKEY_GATEWAY_KEYSTORE ?? raw.gatewayKeystore;
      checks.push(
        ...fileChecks(config, resolve(configFile as string), keystore ? resolve(keystore) : undefined),
      );
      checks.push(...hardwareChecks(config));
    }
    if (values['no-service'] !== true) checks.push(serviceCheck());

    const failed = checks.filter((c) => c.verdict === 'fail');
    if (values.json) io.stdout(toJson({ ok: failed.length === 0, checks }));
    else
      for (const c of checks)
        io.stdout(
          `${MARK[c.verdict]} ${c.name}: ${c.detail}${c.fix && c.verdict !== 'ok' ? `\n    fix: ${c.fix}` : ''}\n`,
        );
    if (failed.length > 0)
      throw new Error(
        `${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.map((c) => c.name).join(', ')}`,
      );
  },
};
