// `latchkey config`: writes the agent's JSON config for this gateway, checked by the agent's own
// parseConfig first, so it never writes a config the agent would refuse at start.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { getAddress } from 'ethers';
import { parseConfig } from '../../agent/config.js';
import { LatchkeyError } from '../../agent/errors.js';
import { decryptKeystore, KeystoreError } from '../../agent/keystore.js';
import { devicesOnChain } from '../chain/deviceCheck.js';
import { type CliIo, type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { checkKeystoreFile } from '../keystore.js';
import { PASSWORD_ENV, PASSWORD_FILE_ENV, passwordProblem, readPassword } from '../password.js';
import { checkNewFile, writeSecretFile } from '../secretFile.js';

export const MQTT_PASSWORD_ENV = 'LATCHKEY_MQTT_PASSWORD';

/** The config's mqtt section from the flags; the password only from the environment (not a flag). */
function mqttSection(url: string | undefined, username: string | undefined, password: string | undefined) {
  const mqtt = {
    ...(url !== undefined ? { url } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(username !== undefined && password ? { password } : {}),
  };
  return Object.keys(mqtt).length > 0 ? { mqtt } : {};
}

/** How one --device is written. */
const DEVICE_GRAMMAR = '<id>:<lock|socket>[:sim|:<relay JSON>][@fail-secure|@fail-safe]';

const FLAGS = {
  rpc: {
    type: 'string',
    required: true,
    multiple: true,
    value: '<url>',
    help: 'chain JSON-RPC URL; repeat for fallbacks, tried in order',
  },
  contract: {
    type: 'string',
    required: true,
    value: '<address>',
    help: 'the Latchkey contract (from latchkey deploy)',
  },
  'gateway-id': {
    type: 'string',
    required: true,
    value: '<id>',
    help: 'this gateway: MQTT topic segment and client id',
  },
  keystore: {
    type: 'string',
    required: true,
    value: '<file>',
    help: "the gateway's key (from latchkey keygen); the config names its absolute path",
  },
  device: {
    type: 'string',
    required: true,
    multiple: true,
    value: '<id>:<kind>[:<relay>]',
    help: `a device it drives: ${DEVICE_GRAMMAR}; id from latchkey register, relay sim by default`,
  },
  out: { type: 'string', required: true, value: '<file>', help: 'where to write the config (mode 0600)' },
  'insecure-write-key': {
    type: 'boolean',
    help: 'put the decrypted key in the config as hex instead of naming the keystore (see above)',
  },
  'start-block': {
    type: 'string',
    value: '<n>',
    help: 'block the contract was deployed in (from latchkey deploy)',
  },
  'chain-id': { type: 'string', value: '<n>', help: 'expected chain id; lets the agent start offline' },
  'mqtt-url': { type: 'string', value: '<url>', help: 'MQTT broker (default mqtt://127.0.0.1:1883)' },
  'mqtt-username': {
    type: 'string',
    value: '<name>',
    help: `broker login (the gateway id with latchkey mosquitto-acl); its password from ${MQTT_PASSWORD_ENV}`,
  },
  'data-dir': {
    type: 'string',
    value: '<dir>',
    help: "where the agent's SQLite store lives (default ./data)",
  },
  force: { type: 'boolean', help: 'replace --out if it exists' },
} as const;

// Stand-ins for values whose flag is missing (already reported), so the agent's own check of the draft
// reports only what is wrong with the values given.
const STAND_IN_KEY = `0x${'11'.repeat(32)}`;
const STAND_IN_ADDRESS = `0x${'22'.repeat(20)}`;

/** Where each config field comes from, to name the flag in the agent's complaints. */
const FLAG_OF: [RegExp, string][] = [
  [/^gatewayId\b/, '--gateway-id'],
  [/^gatewayKeystore\b/, '--keystore'],
  [/^dataDir\b/, '--data-dir'],
  [/^chain\.rpcUrls\b/, '--rpc'],
  [/^chain\.contract\b/, '--contract'],
  [/^chain\.chainId\b/, '--chain-id'],
  [/^chain\.startBlock\b/, '--start-block'],
  [/^mqtt\.url\b/, '--mqtt-url'],
];

interface DeviceEntry {
  id: string;
  kind: string;
  relay: Record<string, unknown>;
  failMode?: string;
}

/**
 * One `--device`: `<id>:<kind>`, then optionally `:sim` or `:` and the relay's JSON config (checked by
 * the agent's driver registry, like every other field), then optionally `@fail-secure` or `@fail-safe`.
 */
function parseDevice(
  spec: string,
  problems: string[],
): { entry: DeviceEntry; relayGiven: boolean } | undefined {
  const failAt = /@(fail-secure|fail-safe)$/.exec(spec);
  const body = failAt ? spec.slice(0, failAt.index) : spec;
  const m = /^([^:]+):([^:]+)(?::(.+))?$/s.exec(body);
  const id = m?.[1];
  const kind = m?.[2];
  const relaySpec = m?.[3];
  if (!id || !kind) {
    problems.push(
      `--device ${spec}: expected ${DEVICE_GRAMMAR}, e.g. 1:lock or 2:socket:{"driver":"shelly",...}`,
    );
    return undefined;
  }
  let relay: Record<string, unknown> = { driver: 'sim' };
  if (relaySpec !== undefined && relaySpec !== 'sim') {
    if (!relaySpec.startsWith('{')) {
      problems.push(
        `--device ${spec}: the relay is sim or a JSON object such as {"driver":"gpio","line":17} ` +
          "(see docs/hardware.md for each driver's fields)",
      );
      return undefined;
    }
    try {
      relay = JSON.parse(relaySpec) as Record<string, unknown>;
    } catch (e) {
      problems.push(`--device ${spec}: the relay JSON does not parse: ${(e as Error).message}`);
      return undefined;
    }
  }
  const entry: DeviceEntry = { id, kind, relay };
  if (failAt?.[1]) entry.failMode = failAt[1];
  return { entry, relayGiven: relaySpec !== undefined };
}

/**
 * The agent's own verdict on `file`: its problems, each naming the flag it came from. `env` is all the
 * agent sees besides the file: the shell's LATCHKEY_* variables must not hide a problem in the file.
 */
function agentProblems(file: unknown, deviceSpecs: string[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(file, env);
    return [];
  } catch (e) {
    if (!(e instanceof LatchkeyError) || e.code !== 'CONFIG_INVALID') throw e;
    const lines = (e.details ?? e.message).split('\n').map((l) => l.replace(/^\s*-\s*/, '').trim());
    return lines
      .filter((l) => l !== '')
      .map((line) => {
        const device = /^devices\[(\d+)\](?:\.([\w.[\]]+))?: (.*)$/.exec(line);
        if (device)
          return `--device ${deviceSpecs[Number(device[1])]}: ${device[2] ? `${device[2]}: ` : ''}${device[3]}`;
        const flag = FLAG_OF.find(([re]) => re.test(line))?.[1];
        return flag ? `${flag}: ${line}` : line;
      });
  }
}

/** The key in keystore `file`, decrypted as the agent will (native scrypt), with its checksummed address. */
function decryptGatewayKey(file: string, password: string): { privateKey: string; address: string } {
  try {
    const key = decryptKeystore(readFileSync(file, 'utf8'), password);
    return { privateKey: key.privateKey, address: getAddress(key.address) };
  } catch (e) {
    if (!(e instanceof KeystoreError)) throw e;
    throw new UsageError([
      e.problem === 'password'
        ? `wrong password for keystore ${file}`
        : `cannot decrypt keystore ${file}: ${e.message}`,
    ]);
  }
}

function int(value: string | undefined): number | string | undefined {
  return value !== undefined && /^[0-9]{1,15}$/.test(value) ? Number(value) : value;
}

export const config: Command = {
  name: 'config',
  summary: "write the agent's JSON config for this gateway",
  help: () =>
    renderHelp(
      'latchkey config --rpc <url> --contract <address> --gateway-id <id> --keystore <file>\n' +
        '         --device <id>:<lock|socket>[:<relay>] ... --out <file> [--insecure-write-key]\n' +
        '         [--start-block <n>] [--chain-id <n>] [--mqtt-url <url>] [--data-dir <dir>] [--force]',
      "Writes the agent's JSON config (LATCHKEY_CONFIG, mode 0600) after checking it with the agent's own\n" +
        'parser. The config names the keystore (gatewayKeystore, its absolute path), not the key: the agent\n' +
        'decrypts it at start with the password from LATCHKEY_KEY_PASSWORD or from the file named by\n' +
        'LATCHKEY_KEY_PASSWORD_FILE (e.g. a systemd LoadCredential=). The keystore is decrypted here as well,\n' +
        'to check the password and print the gateway address. --insecure-write-key writes the decrypted key\n' +
        'into the config as hex (gatewayKey) instead, for agents that cannot be given the password.',
      FLAGS,
      `Environment:
  ${PASSWORD_FILE_ENV}  a file (mode 0600) holding the keystore password (preferred)
  ${PASSWORD_ENV}       the password itself; without either, it is asked on the terminal.
  ${MQTT_PASSWORD_ENV}      the broker password for --mqtt-username (printed by latchkey mosquitto-acl).

The devices are checked against the chain (the first --rpc): each must exist, be of the kind given and
have this gateway's key as its signer. An unreachable chain is warned about, not refused.

Example:
  latchkey config --rpc https://rpc.gnosischain.com --contract 0x... --start-block 123 --gateway-id front-door \\
    --keystore /etc/latchkey/gateway.json --out /etc/latchkey/config.json \\
    --device '1:lock:{"driver":"gpio","line":17,"activeLow":true}@fail-secure' \\
    --device '2:socket:{"driver":"shelly","url":"mqtt://127.0.0.1:1883","prefix":"shellyplug-1"}'

A relay is sim (the default) or a driver's JSON config; each driver's fields are in docs/hardware.md
and \`latchkey board\` prints what the device itself needs.`,
    ),

  async run(argv: string[], io: CliIo): Promise<void> {
    const { values, problems: p } = parseFlags(argv, FLAGS);
    const rpc = values.rpc;
    const contract = values.contract;
    const gatewayId = values['gateway-id'];
    const keystore = values.keystore;
    const specs = values.device ?? [];
    const out = values.out;
    if (keystore !== undefined) checkKeystoreFile(keystore, '--keystore', p);
    if (out !== undefined) checkNewFile(out, '--out', p, values.force === true);
    const writeKey = values['insecure-write-key'] === true;
    const noPassword = passwordProblem(io, false);
    if (noPassword) p.push(noPassword);

    const devices: DeviceEntry[] = [];
    const deviceSpecs: string[] = [];
    const simByDefault: string[] = [];
    for (const spec of specs) {
      const d = parseDevice(spec, p);
      if (!d) continue;
      devices.push(d.entry);
      deviceSpecs.push(spec);
      if (!d.relayGiven) simByDefault.push(d.entry.id);
    }

    const file = (key: { gatewayKey: string } | { gatewayKeystore: string }): Record<string, unknown> => ({
      gatewayId: gatewayId ?? 'gateway-1',
      ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
      ...key,
      chain: {
        rpcUrls: rpc ?? ['http://127.0.0.1:8545'],
        contract: contract ?? STAND_IN_ADDRESS,
        ...(values['chain-id'] !== undefined ? { chainId: int(values['chain-id']) } : {}),
        ...(values['start-block'] !== undefined ? { startBlock: int(values['start-block']) } : {}),
      },
      ...mqttSection(values['mqtt-url'], values['mqtt-username'], io.env[MQTT_PASSWORD_ENV]),
      devices: devices.length > 0 ? devices : [{ id: '1', kind: 'lock', relay: { driver: 'sim' } }],
    });
    // the draft names a stand-in key: no key derivation until everything else is right
    p.push(...agentProblems(file({ gatewayKey: STAND_IN_KEY }), deviceSpecs));
    if (p.length > 0) throw new UsageError(p);

    const ks = resolve(keystore as string);
    const password = await readPassword(io, `the gateway keystore ${ks}`, false);
    const gateway = decryptGatewayKey(ks, password);
    const onChain = await devicesOnChain(
      (rpc as string[])[0] as string,
      contract as string,
      devices,
      gateway.address,
    );
    if ('problems' in onChain && onChain.problems.length > 0) throw new UsageError(onChain.problems);
    if ('unchecked' in onChain)
      io.stderr(`warning: the devices were not checked against the chain: ${onChain.unchecked}\n`);
    // the agent decrypts the keystore itself to accept the config, given the password as it will be
    const final = writeKey ? file({ gatewayKey: gateway.privateKey }) : file({ gatewayKeystore: ks });
    const left = agentProblems(final, deviceSpecs, writeKey ? {} : { [PASSWORD_ENV]: password });
    if (left.length > 0) throw new UsageError(left);
    writeSecretFile(out as string, `${JSON.stringify(final, null, 2)}\n`, {
      overwrite: values.force === true,
    });

    io.stdout(
      [
        `config: ${resolve(out as string)}`,
        `gateway: ${gateway.address}`,
        ...(writeKey ? [] : [`keystore: ${ks}`]),
        `devices: ${devices.map((d) => `${d.id} (${d.kind})`).join(', ')}`,
        '',
      ].join('\n'),
    );
    if (writeKey)
      io.stderr(
        `warning: ${out} holds the gateway's private key in the clear (mode 0600); keep it readable by the agent's user only.\n`,
      );
    else
      io.stderr(
        `note: the agent decrypts ${ks} at start: give it the password in ${PASSWORD_ENV}, or in a file named by ` +
          'LATCHKEY_KEY_PASSWORD_FILE (e.g. from systemd LoadCredential=).\n',
      );
    if (simByDefault.length > 0)
      io.stderr(
        `note: device ${simByDefault.join(', ')} drives a simulated relay (sim); give a relay config to drive real hardware (docs/hardware.md).\n`,
      );
    if (values['start-block'] === undefined)
      io.stderr('note: no --start-block: the agent scans the chain from block 0 on its first start.\n');
  },
};
