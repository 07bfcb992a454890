import { describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from './broker/embedded.js';
import { createLogger, redact } from './log.js';
import { MqttBus } from './mqtt/bus.js';
import { nextEvent } from './mqtt/testkit.js';

describe('redact', () => {
  it('drops the credentials, path and query of every URL in a text', () => {
    expect(redact('connected mqtt://gw:s3cret@broker.lan:1883 and wss://u:p@h/mqtt?x=1')).toBe(
      'connected mqtt://broker.lan:1883 and wss://h/…',
    );
    expect(redact('rpc https://mainnet.example/v3/KEY123 failed')).toBe(
      'rpc https://mainnet.example/… failed',
    );
    expect(redact('plain http://127.0.0.1:8080/ text')).toBe('plain http://127.0.0.1:8080/ text');
    expect(redact('user@example.org is not a URL')).toBe('user@example.org is not a URL');
  });

  it('is applied to every line the logger writes, in messages, fields and errors, JSON or not', () => {
    for (const json of [true, false]) {
      const lines: string[] = [];
      const log = createLogger('t', { json, write: (l) => lines.push(l) }).child('c');
      log.info('to mqtt://a:pw1@h:1', { url: 'mqtts://b:pw2@h', error: new Error('ws://c:pw3@h refused') });
      expect(lines.join('\n')).not.toMatch(/pw1|pw2|pw3/);
      expect(lines.join('\n')).toContain('mqtts://h');
    }
  });

  it("keeps the MQTT client's credentials out of its log lines on a real broker", async () => {
    const broker = await startEmbeddedBroker({ logins: false, log: createLogger('b', { write: () => {} }) });
    const lines: string[] = [];
    const url = broker.url.replace('mqtt://', 'mqtt://gw:hunter2@');
    const bus = new MqttBus({
      url,
      gatewayId: 'gw',
      deviceIds: [1n],
      onAccess: () => {},
      log: createLogger('latchkey', { level: 'debug', write: (l) => lines.push(l) }),
    });
    const connected = nextEvent(bus, 'connected');
    await bus.start();
    try {
      await connected;
      expect(lines.some((l) => l.includes('connected'))).toBe(true);
      expect(lines.join('\n')).not.toContain('hunter2');
    } finally {
      await bus.stop();
      await broker.stop();
    }
  });
});
