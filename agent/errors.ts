// The agent's error type: a string code callers switch on, a short message, and a cause.

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CHAIN_UNAVAILABLE'
  | 'STORE_FAILED'
  | 'RELAY_FAILED'
  /** The device does not answer (offline): nothing was switched and no lease was started. */
  | 'DEVICE_OFFLINE'
  | 'BAD_REQUEST'
  | 'UNKNOWN_DEVICE'
  /** A token's single-use nonce was recorded by another delivery first: nothing was acted on. */
  | 'TOKEN_USED';

export class LatchkeyError extends Error {
  override readonly name = 'LatchkeyError';
  readonly code: ErrorCode;
  readonly details: string | undefined;

  constructor(code: ErrorCode, shortMessage: string, options: { cause?: unknown; details?: string } = {}) {
    super(options.details ? `${shortMessage}\n${options.details}` : shortMessage, { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

export function isError(e: unknown, code: ErrorCode): e is LatchkeyError {
  return e instanceof LatchkeyError && e.code === code;
}
