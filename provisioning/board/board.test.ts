// `latchkey board` for each relay driver of the config schema, from a real config file.

import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, problems, tempDir } from '../testCli.js';

const tmp = tempDir();
afterAll(() => tmp.remove());
const file = tmp.path('config.json');
writeFileSync(
  file,
  JSON.stringify({
    gatewayId: 'gw',
    gatewayKey: `0x${'11'.repeat(32)}`,
    chain: { rpcUrls: ['http://127.0.0.1:8545'], contract: `0x${'22'.repeat(20)}` },
    mqtt: { url: 'mqtt://10.0.0.5:1883' },
    devices: [
      { id: '1', kind: 'lock', relay: { driver: 'sim' } },
      {
        id: '2',
        kind: 'lock',
        pulseSeconds: 8,
        relay: { driver: 'firmata', serial: '/dev/ttyACM0', pin: 7 },
      },
      {
        id: '3',
        kind: 'lock',
        pulseSeconds: 30,
        relay: { driver: 'tasmota', topic: 'door3', url: 'mqtt://10.0.0.5:1883' },
      },
      {
        id: '4',
        kind: 'socket',
        relay: { driver: 'shelly', prefix: 'shellyplug-4', url: 'mqtt://10.0.0.5' },
      },
      {
        id: '5',
        kind: 'lock',
        relay: { driver: 'gpio', line: 4, activeLow: true, contact: { line: 27, activeLow: true } },
      },
      { id: '6', kind: 'lock', relay: { driver: 'gpio', line: 17, activeLow: true } },
      { id: '7', kind: 'socket', relay: { driver: 'firmata', tcp: '192.168.1.40:3030', pin: 5 } },
    ],
  }),
);
const board = (id: string) => cli(['board', '--config', file, '--device', id], {});

describe('latchkey board', () => {
  it('gives wiring, firmware and settings for each driver', async () => {
    const sim = await board('1');
    expect(sim.code, sim.stderr).toBe(0);
    expect(sim.stdout).toContain('a simulated relay has no hardware');
    const firmata = await board('2');
    expect(firmata.stdout).toContain('arduino-cli upload --fqbn arduino:avr:uno --port /dev/ttyACM0');
    expect(firmata.stdout).toContain('| D7 | IN |');
    const tasmota = await board('3');
    for (const line of [
      'MqttHost 10.0.0.5',
      'MqttPort 1883',
      'Topic door3',
      'PowerOnState 0',
      'PulseTime1 130',
    ])
      expect(tasmota.stdout).toContain(`  ${line}\n`);
    const shelly = await cli(['board', '--config', file, '--device', '4', '--json'], {});
    const sheet = JSON.parse(shelly.stdout) as { sections: { lines: string[] }[] };
    const lines = sheet.sections.flatMap((s) => s.lines);
    expect(lines).toContain(
      'Switch.SetConfig {"id":0,"config":{"initial_state":"off","auto_off":false,"auto_off_delay":5}}',
    );
    expect(lines.find((l) => l.startsWith('MQTT.SetConfig'))).toContain('"server":"10.0.0.5:1883"');
  });

  it('gives a GPIO relay its header pin, its boot pull and the gpio group', async () => {
    const safe = await board('5');
    expect(safe.code, safe.stderr).toBe(0);
    expect(safe.stdout).toContain('active-low relay on GPIO4 (pin 7)');
    expect(safe.stdout).toContain('| GPIO4 (pin 7) | IN |');
    expect(safe.stdout).toContain('| GPIO27 (pin 13) + GND | door contact (reed switch), closed = low');
    expect(safe.stdout).toContain('GPIO4 is pulled up: the relay stays off until the agent drives it');
    expect(safe.stdout).toContain('sudo usermod -aG gpio latchkey');
    // GPIO17 is pulled down at power-on: an active-low board would be energised through the boot.
    const unsafe = await board('6');
    expect(unsafe.stdout).toContain('WARNING: at power-on GPIO17 is pulled down');
    expect(unsafe.stdout).toContain('gpio=17=op,dh');
  });

  it('gives a StandardFirmataWiFi board its address', async () => {
    const wifi = await board('7');
    expect(wifi.code, wifi.stderr).toBe(0);
    expect(wifi.stdout).toContain('StandardFirmataWiFi) at tcp://192.168.1.40:3030, pin 5');
    expect(wifi.stdout).toContain('wifiConfig.h');
  });

  it('refuses an unknown device', async () => {
    const r = await board('9');
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual(['--device: the config has no device 9']);
  });
});
