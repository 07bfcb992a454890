import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { FrameMeter, PacketTooLargeError } from './frameLimit.js';

const publish = (bytes: number) =>
  mqttPacket.generate({
    cmd: 'publish',
    topic: 't',
    payload: Buffer.alloc(bytes),
    qos: 0,
    dup: false,
    retain: false,
  });

describe('FrameMeter', () => {
  it('lets a stream of packets up to the limit through, however the bytes are split', () => {
    const stream = Buffer.concat([
      mqttPacket.generate({ cmd: 'pingreq' }),
      publish(100),
      publish(1000 - 6), // exactly 1000 bytes: 1 type + 2 length + 3 topic + 994 payload
      publish(0),
    ]);
    expect(publish(1000 - 6).length).toBe(1000);
    for (const size of [1, 2, 3, 7, stream.length]) {
      const meter = new FrameMeter(1000);
      for (let i = 0; i < stream.length; i += size) meter.feed(stream.subarray(i, i + size));
    }
  });

  it('refuses a packet over the limit from its header, before its body arrives', () => {
    const meter = new FrameMeter(1000);
    meter.feed(publish(10));
    const big = publish(2_000_000);
    expect(() => meter.feed(big.subarray(0, 5))).toThrow(PacketTooLargeError);
  });

  it('refuses a remaining length with a fifth length byte', () => {
    const meter = new FrameMeter(1000);
    expect(() => meter.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff]))).toThrow(PacketTooLargeError);
  });
});
