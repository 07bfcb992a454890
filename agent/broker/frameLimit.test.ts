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

/** Feeds `bytes` one at a time; the index of the byte whose feed threw, and what it threw. */
function refusedAt(meter: FrameMeter, bytes: Buffer): { at: number; error: unknown } {
  for (let i = 0; i < bytes.length; i++) {
    try {
      meter.feed(bytes.subarray(i, i + 1));
    } catch (error) {
      return { at: i, error };
    }
  }
  return { at: -1, error: undefined };
}

describe('FrameMeter', () => {
  it('lets a stream of packets up to the limit through however the bytes are split, then refuses an oversized header at its last length byte', () => {
    const stream = Buffer.concat([
      mqttPacket.generate({ cmd: 'pingreq' }),
      publish(100),
      publish(1000 - 6), // exactly 1000 bytes: 1 type + 2 length + 3 topic + 994 payload
      publish(0),
    ]);
    expect(publish(1000 - 6).length).toBe(1000);
    // 1001 bytes: the type byte, then the remaining length 998 in two bytes; the second completes it.
    const justOver = publish(1000 - 5);
    expect([...justOver.subarray(0, 3)]).toEqual([0x30, 0xe6, 0x07]);
    // 2,000,007 bytes: a remaining length of three bytes, complete at byte 3.
    const farOver = publish(2_000_000);
    expect(farOver[3]! & 0x80).toBe(0);

    for (const [next, at, size] of [
      [justOver, 2, 1001],
      [farOver, 3, 2_000_007],
    ] as const) {
      for (const chunk of [1, 2, 3, 7, 999, 1000, stream.length]) {
        const why = `chunks of ${chunk}, then a ${size}-byte packet`;
        const meter = new FrameMeter(1000);
        for (let i = 0; i < stream.length; i += chunk)
          expect(() => meter.feed(stream.subarray(i, i + chunk)), why).not.toThrow();
        // The meter is still in step with the packets: the next header, fed byte by byte, is refused
        // exactly at the byte that completes its length, not a byte earlier.
        const refusal = refusedAt(meter, next);
        expect(refusal.at, why).toBe(at);
        expect(refusal.error, why).toBeInstanceOf(PacketTooLargeError);
        expect(refusal.error, why).toMatchObject({ size, limit: 1000 });
      }
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
