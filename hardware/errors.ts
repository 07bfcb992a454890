// The error a driver throws: a code the agent switches on and a short message. Drivers never
// import the agent; the device controller wraps these into its own RELAY_FAILED errors.

export type RelayErrorCode =
  /** A write did not reach the hardware, or the hardware did not confirm it in time. */
  | 'RELAY_FAILED'
  /** The driver's config cannot work (no such line, unknown driver, bad field). */
  | 'CONFIG_INVALID';

export class RelayError extends Error {
  override readonly name = 'RelayError';
  readonly code: RelayErrorCode;
  readonly details: string | undefined;

  constructor(
    code: RelayErrorCode,
    shortMessage: string,
    options: { cause?: unknown; details?: string } = {},
  ) {
    super(options.details ? `${shortMessage}\n${options.details}` : shortMessage, { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

export function isRelayError(e: unknown, code: RelayErrorCode): e is RelayError {
  return e instanceof RelayError && e.code === code;
}
