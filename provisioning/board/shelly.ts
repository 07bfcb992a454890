// Board sheet for a Shelly (Gen2+) plug on MQTT: its MQTT settings and a relay that starts off.

import type { BoardContext, BoardSheet } from './types.js';

export function shellySheet(c: BoardContext, relay: { prefix: string; url: string }): BoardSheet {
  const u = new URL(relay.url);
  const server = `${u.hostname}:${u.port || (u.protocol === 'mqtts:' ? '8883' : '1883')}`;
  const mqtt = {
    enable: true,
    server,
    client_id: relay.prefix,
    topic_prefix: relay.prefix,
    rpc_ntf: true,
    status_ntf: true,
  };
  return {
    title: `device ${c.device.id} (${c.device.kind}): Shelly plug, topic prefix ${relay.prefix}`,
    sections: [
      {
        heading: 'Settings (web UI, or these RPC calls to http://<shelly>/rpc)',
        lines: [
          `MQTT.SetConfig ${JSON.stringify({ config: mqtt })}`,
          `Switch.SetConfig ${JSON.stringify({ id: 0, config: { initial_state: 'off', auto_off: c.device.kind === 'lock', auto_off_delay: c.device.pulseSeconds } })}`,
          'Shelly.Reboot',
        ],
      },
      {
        heading: 'What the agent uses',
        lines: [
          `${relay.prefix}/rpc (Switch.Set) and ${relay.prefix}/status/switch:0`,
          'initial_state off: after a power cut the relay stays off until the agent switches it',
        ],
      },
    ],
  };
}
