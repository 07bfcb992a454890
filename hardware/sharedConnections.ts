// Connections that several relays share (one MQTT client per broker login, one serial port per
// board): opened by the first relay that asks, closed when the last one releases it.

interface Entry {
  value: Promise<unknown>;
  users: number;
  close: (value: unknown) => Promise<void>;
}

export interface Lease<T> {
  readonly value: T;
  /** Gives the connection back; the last release closes it. Calling it twice does nothing. */
  release(): Promise<void>;
}

export class SharedConnections {
  private readonly entries = new Map<string, Entry>();

  /** How many connections are open now (for tests and /health). */
  get size(): number {
    return this.entries.size;
  }

  async acquire<T>(
    key: string,
    open: () => Promise<T>,
    close: (value: T) => Promise<void>,
  ): Promise<Lease<T>> {
    let entry = this.entries.get(key);
    if (!entry) {
      const value = open();
      entry = { value, users: 0, close: close as (value: unknown) => Promise<void> };
      this.entries.set(key, entry);
      // A connection that failed to open is forgotten, so the next acquire tries again.
      value.catch(() => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      });
    }
    entry.users++;
    const held = entry;
    let value: T;
    try {
      value = (await held.value) as T;
    } catch (e) {
      held.users--;
      throw e;
    }
    let released = false;
    return {
      value,
      release: async () => {
        if (released) return;
        released = true;
        held.users--;
        if (held.users > 0 || this.entries.get(key) !== held) return;
        this.entries.delete(key);
        await held.close(value);
      },
    };
  }
}
