// What the unlock benchmark's flood process is asked to send, what it reports, and the mix of bad tokens.

export interface FloodPlan {
  url: string;
  topic: string;
  rentalId: string;
  /** An action the target device accepts ('unlock' for a lock, 'on' for a socket), so bad tokens pass the cheap checks. */
  action: 'unlock' | 'on';
  separator: string;
  /** A key that is not the renter's: its tokens pass every cheap check and fail only at recovery. */
  wrongKey: string;
  rate: number;
  durationMs: number;
  /** After the last token, how long to wait for the agent's remaining replies at most. */
  maxDrainMs: number;
  /** 'wallet' (default): FLOOD_MIX; 'session': SESSION_FLOOD_MIX against a rental with a session key. */
  scheme?: 'wallet' | 'session';
}

/** What each kind of bad token is and what the agent should answer. */
export const FLOOD_MIX = [
  {
    kind: 'wrong-signer',
    share: 0.5,
    expect: 'not-renter',
    note: 'known rental, valid shape, signed by another key',
  },
  {
    kind: 'garbage-signature',
    share: 0.1,
    expect: 'bad-signature|not-renter',
    note: 'known rental, random r,s',
  },
  { kind: 'unknown-rental', share: 0.1, expect: 'unknown-rental', note: 'valid shape, rental never paid' },
  { kind: 'expired', share: 0.1, expect: 'expired', note: 'validUntil an hour ago' },
  { kind: 'bad-shape', share: 0.15, expect: 'malformed', note: 'JSON with an id, access not an object' },
  {
    kind: 'not-json',
    share: 0.05,
    expect: 'malformed|rate-limited',
    note: 'random bytes, no id (one shared source)',
  },
] as const;

/**
 * The session flood: every token well formed, for the rental its guest holds a session key for, valid
 * now, signed by another P-256 key. Each one passes every cheap check and costs one P-256 verify.
 */
export const SESSION_FLOOD_MIX = [
  {
    kind: 'forged-session',
    share: 1,
    expect: 'bad-signature',
    note: 'known rental with a session key, valid shape and time, signed by another P-256 key',
  },
] as const;

export type FloodMix = typeof FLOOD_MIX | typeof SESSION_FLOOD_MIX;
export type FloodKind = FloodMix[number]['kind'];

export interface FloodReport {
  sent: number;
  byKind: Record<string, number>;
  elapsedMs: number;
  /** Largest shortfall of the sender behind its schedule, in messages. */
  maxBacklog: number;
  /** Tokens with an id, which the agent answers on their reply topic. */
  expectedReplies: number;
  /** Replies seen while the flood was being sent, and in all. */
  repliesDuringFlood: number;
  replies: number;
  /** When the last reply came, counted from the flood's last token (0: none after it). */
  lastReplyAfterFloodMs: number;
  /** Tokens still unanswered when the child stopped waiting. */
  unansweredAtStop: number;
  /** Replies per second since the flood started: the agent's pace. */
  repliesPerSecond: number[];
}
