// `latchkey service`: writes the agent's systemd unit (see service/unit.ts) and says how to install it.

import { isAbsolute } from 'node:path';
import { integer } from '../checks.js';
import { type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { checkOutputs, writeOutputs } from '../outputFiles.js';
import { UNIT_DEFAULTS, unitFile } from '../service/unit.js';

const FLAGS = {
  out: {
    type: 'string',
    required: true,
    value: '<file>',
    help: 'where to write the unit, e.g. latchkey.service',
  },
  node: { type: 'string', value: '<path>', help: `node binary (default ${UNIT_DEFAULTS.node})` },
  agent: { type: 'string', value: '<path>', help: `compiled agent (default ${UNIT_DEFAULTS.agent})` },
  config: { type: 'string', value: '<file>', help: `agent config (default ${UNIT_DEFAULTS.config})` },
  'password-file': {
    type: 'string',
    value: '<file>',
    help: `keystore password, given as a credential (default ${UNIT_DEFAULTS.passwordFile})`,
  },
  user: { type: 'string', value: '<name>', help: `the service user (default ${UNIT_DEFAULTS.user})` },
  'watchdog-seconds': {
    type: 'string',
    value: '<s>',
    help: `restart after this long without a watchdog ping (default ${UNIT_DEFAULTS.watchdogSeconds})`,
  },
  force: { type: 'boolean', help: 'replace --out if it exists' },
} as const;

function path(value: string | undefined, fallback: string, flag: string, problems: string[]): string {
  const v = value ?? fallback;
  if (!isAbsolute(v)) problems.push(`${flag}: must be an absolute path, got ${v}`);
  else if (/[\s%"'\\]/.test(v)) problems.push(`${flag}: must not contain spaces, quotes, backslashes or %`);
  return v;
}

export const service: Command = {
  name: 'service',
  summary: "write the agent's hardened systemd unit (notify + watchdog)",
  help: () =>
    renderHelp(
      'latchkey service --out <file> [--node <path>] [--agent <path>] [--config <file>]\n' +
        '         [--password-file <file>] [--user latchkey] [--watchdog-seconds 30] [--force]',
      'Writes a systemd unit that runs the compiled agent as an unprivileged user in the gpio and dialout\n' +
        'groups, with Type=notify and WatchdogSec (the agent pings from its event loop), Restart=on-failure,\n' +
        'the key password as a LoadCredential= credential, StateDirectory=latchkey for its store, and a\n' +
        'sandbox (ProtectSystem=strict, no capabilities, a system call filter, ...). See docs/provisioning.md.',
      FLAGS,
      `Install:
  sudo useradd --system --home-dir /var/lib/latchkey --shell /usr/sbin/nologin --groups gpio,dialout latchkey
  sudo install -m 0644 latchkey.service /etc/systemd/system/ && sudo systemctl daemon-reload
  sudo systemctl enable --now latchkey && systemctl status latchkey`,
    ),
  async run(argv, io) {
    const { values, problems: p } = parseFlags(argv, FLAGS);
    const options = {
      node: path(values.node, UNIT_DEFAULTS.node, '--node', p),
      agent: path(values.agent, UNIT_DEFAULTS.agent, '--agent', p),
      config: path(values.config, UNIT_DEFAULTS.config, '--config', p),
      passwordFile: path(values['password-file'], UNIT_DEFAULTS.passwordFile, '--password-file', p),
      user: values.user ?? UNIT_DEFAULTS.user,
      watchdogSeconds:
        integer(
          values['watchdog-seconds'] ?? String(UNIT_DEFAULTS.watchdogSeconds),
          '--watchdog-seconds',
          2,
          3600,
          p,
        ) ?? UNIT_DEFAULTS.watchdogSeconds,
    };
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(options.user))
      p.push(`--user: not a valid user name: ${options.user}`);
    if (values.out !== undefined) checkOutputs([values.out], '--out', p, values.force === true);
    if (p.length > 0) throw new UsageError(p);
    writeOutputs(new Map([[values.out as string, unitFile(options)]]));
    io.stdout(`unit: ${values.out}\n`);
  },
};
