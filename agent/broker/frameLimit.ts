// Refuses MQTT packets above a size before a broker buffers them: reads only the fixed headers
// (type byte + remaining-length varint) of the inbound byte stream and skips the bodies.

import { Duplex, Transform, type TransformCallback } from 'node:stream';

export class PacketTooLargeError extends Error {
  override readonly name = 'PacketTooLargeError';
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`MQTT packet of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}

/** Tracks packet boundaries; `feed` throws PacketTooLargeError as soon as a header announces too much. */
export class FrameMeter {
  private phase: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private lengthBytes = 0;
  private bodyLeft = 0;

  constructor(private readonly maxPacketBytes: number) {}

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.phase === 'body') {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= take;
        i += take;
        if (this.bodyLeft === 0) this.phase = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.phase === 'type') {
        this.phase = 'length';
        this.length = 0;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes++;
      if (byte & 0x80) {
        // A fifth length byte is malformed MQTT; treat it as oversized rather than parse further.
        if (this.lengthBytes === 4)
          throw new PacketTooLargeError(Number.POSITIVE_INFINITY, this.maxPacketBytes);
        continue;
      }
      const size = 1 + this.lengthBytes + this.length;
      if (size > this.maxPacketBytes) throw new PacketTooLargeError(size, this.maxPacketBytes);
      this.bodyLeft = this.length;
      this.phase = this.length === 0 ? 'type' : 'body';
    }
  }
}

/**
 * Wraps a connection so its inbound bytes pass a FrameMeter: the returned duplex is what the broker
 * reads and writes; an oversized packet destroys the connection with PacketTooLargeError.
 */
export function limitFrames(connection: Duplex, maxPacketBytes: number): Duplex {
  const meter = new FrameMeter(maxPacketBytes);
  const inbound = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      try {
        meter.feed(chunk);
        done(null, chunk);
      } catch (error) {
        done(error as Error);
      }
    },
  });
  connection.pipe(inbound);
  const guarded = Duplex.from({ readable: inbound, writable: connection });
  const destroyBoth = (error?: Error | null) => {
    connection.destroy();
    if (!guarded.destroyed) guarded.destroy(error ?? undefined);
  };
  inbound.once('error', destroyBoth);
  connection.once('close', () => destroyBoth());
  connection.on('error', () => {}); // reported through `guarded`; a reset socket must not crash the process
  return guarded;
}
