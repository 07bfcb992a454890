// A short-lived memory of access messages already handled, keyed on a digest of topic + payload, so a
// QoS 1 redelivery (broker DUP or a publisher's retransmit, which brokers forward as a new message)
// reaches the handler once. Bounded in time and in entries. Refused messages are kept for a shorter
// window in an area of their own, pruned from its front like the main one: no timer per message, so a
// flood of refused tokens costs a map entry each, not a timer and its closure.

import { createHash } from 'node:crypto';

export interface RecentMessagesOptions {
  /** How long a message is remembered. */
  windowMs: number;
  /** At most this many messages are remembered; the oldest are forgotten first. */
  maxEntries: number;
  /** How long a message is remembered once shorten() moved it (default windowMs). */
  shortWindowMs?: number;
  /** Monotonic milliseconds; performance.now by default (immune to wall-clock steps). */
  now?: () => number;
}

export function messageKey(topic: string, payload: Uint8Array): string {
  return createHash('sha256').update(topic).update('\u0000').update(payload).digest('base64');
}

type Area<V> = Map<string, { at: number; value: V }>;

export class RecentMessages<V> {
  private readonly entries: Area<V> = new Map();
  /** Entries shorten() moved, remembered shortWindowMs from the move. */
  private readonly short: Area<V> = new Map();
  private readonly now: () => number;
  private readonly shortWindowMs: number;

  constructor(private readonly options: RecentMessagesOptions) {
    this.now = options.now ?? (() => performance.now());
    this.shortWindowMs = options.shortWindowMs ?? options.windowMs;
  }

  get size(): number {
    return this.entries.size + this.short.size;
  }

  /** The value remembered for key within its window, if any. */
  get(key: string): V | undefined {
    this.prune();
    return (this.entries.get(key) ?? this.short.get(key))?.value;
  }

  /** Remembers key (replacing an older entry for it). */
  add(key: string, value: V): void {
    this.entries.delete(key);
    this.short.delete(key);
    this.entries.set(key, { at: this.now(), value });
    this.prune();
  }

  /** From now on remembers key for shortWindowMs only, while it still holds `value`. */
  shorten(key: string, value: V): void {
    if (this.entries.get(key)?.value !== value) return;
    this.entries.delete(key);
    this.short.set(key, { at: this.now(), value });
    this.prune();
  }

  clear(): void {
    this.entries.clear();
    this.short.clear();
  }

  // Map iteration order is insertion order, which is time order in each area, so expiry only looks at
  // the fronts. The entry limit counts both areas; the oldest short-lived entries go first.
  private prune(): void {
    const now = this.now();
    const { maxEntries } = this.options;
    expire(this.short, now - this.shortWindowMs, () => this.size > maxEntries);
    expire(this.entries, now - this.options.windowMs, () => this.size > maxEntries);
  }
}

function expire<V>(area: Area<V>, oldest: number, over: () => boolean): void {
  for (const [key, entry] of area) {
    if (entry.at > oldest && !over()) break;
    area.delete(key);
  }
}
