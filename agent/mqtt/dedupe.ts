// A short-lived memory of access messages already handled, keyed on a digest of topic + payload, so a
// QoS 1 redelivery (broker DUP or a publisher's retransmit, which brokers forward as a new message)
// reaches the handler once. Bounded in time and in entries.

import { createHash } from 'node:crypto';

export interface RecentMessagesOptions {
  /** How long a message is remembered. */
  windowMs: number;
  /** At most this many messages are remembered; the oldest are forgotten first. */
  maxEntries: number;
  /** Monotonic milliseconds; performance.now by default (immune to wall-clock steps). */
  now?: () => number;
}

export function messageKey(topic: string, payload: Uint8Array): string {
  return createHash('sha256').update(topic).update('\u0000').update(payload).digest('base64');
}

export class RecentMessages<V> {
  private readonly entries = new Map<string, { at: number; value: V }>();
  private readonly now: () => number;

  constructor(private readonly options: RecentMessagesOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value remembered for key within the window, if any. */
  get(key: string): V | undefined {
    this.prune();
    return this.entries.get(key)?.value;
  }

  /** Remembers key (replacing an older entry for it). */
  add(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { at: this.now(), value });
    this.prune();
  }

  /** Forgets key, but only while it still holds `value` (a newer entry for the key is kept). */
  forget(key: string, value: V): void {
    if (this.entries.get(key)?.value === value) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  // Map iteration order is insertion order, which is time order, so expiry only looks at the front.
  private prune(): void {
    const oldest = this.now() - this.options.windowMs;
    for (const [key, entry] of this.entries) {
      if (entry.at > oldest && this.entries.size <= this.options.maxEntries) break;
      this.entries.delete(key);
    }
  }
}
