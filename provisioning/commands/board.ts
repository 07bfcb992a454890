// `latchkey board`: what a maker needs to build a device's relay: firmware, settings and wiring for
// the driver the agent config gives it.

import { type AgentConfig, loadConfig } from '../../agent/config.js';
import { LatchkeyError } from '../../agent/errors.js';
import { boardSheet, renderSheet } from '../board/sheets.js';
import { toJson } from '../chainFlags.js';
import { integer } from '../checks.js';
import { type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';

const FLAGS = {
  config: { type: 'string', value: '<file>', help: "the agent's config (default $LATCHKEY_CONFIG)" },
  device: { type: 'string', required: true, value: '<id>', help: 'the device' },
  json: { type: 'boolean', help: 'print the sheet as JSON' },
} as const;

export const board: Command = {
  name: 'board',
  summary: "a device's relay board: firmware, settings and wiring for its driver",
  help: () =>
    renderHelp(
      'latchkey board --device <id> [--config <file>] [--json]',
      "Prints what a maker needs for the device's relay driver in the agent config: for GPIO the wiring;\n" +
        'for Firmata the arduino-cli commands and the wiring table; for Tasmota and Shelly plugs the exact\n' +
        'console commands / settings (broker, topic, PowerOnState 0, initial_state off).',
      FLAGS,
    ),
  async run(argv, io) {
    const { values, problems } = parseFlags(argv, FLAGS);
    const id = integer(values.device, '--device', 1, Number.MAX_SAFE_INTEGER, problems);
    const file = values.config ?? io.env.LATCHKEY_CONFIG;
    if (file === undefined) problems.push('no config: give --config <file> or set LATCHKEY_CONFIG');
    if (problems.length > 0 || id === undefined) throw new UsageError(problems);
    let config: AgentConfig;
    try {
      config = loadConfig({ ...io.env, LATCHKEY_CONFIG: file });
    } catch (e) {
      if (!(e instanceof LatchkeyError)) throw e;
      throw new UsageError([`--config: ${e.message.replace(/\n/g, '; ')}`]);
    }
    const device = config.devices.find((d) => d.id === BigInt(id));
    if (!device) throw new UsageError([`--device: the config has no device ${id}`]);
    const sheet = boardSheet({ device, gatewayId: config.gatewayId, mqttUrl: config.mqtt.url });
    io.stdout(values.json ? toJson(sheet) : renderSheet(sheet));
  },
};
