// What every `latchkey` command is: a name, help text and a run function over an injected terminal,
// plus the error that means "the input is wrong, nothing was done" (exit code 2).

/** The process around a command; tests pass their own to run commands in-process. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  /** Results, as `name: value` lines. */
  stdout(text: string): void;
  /** Notes, warnings, prompts and errors. */
  stderr(text: string): void;
  /** Asks for a secret on the terminal without echo; absent when there is no terminal. */
  askSecret?: (question: string) => Promise<string>;
}

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  help(): string;
  run(argv: string[], io: CliIo): Promise<void>;
}

/** Bad input: every problem found, listed at once. The CLI exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problems.length === 1 ? (problems[0] ?? '') : `${problems.length} problems`);
    this.problems = problems;
  }
}

export const EXIT_OK = 0;
/** Something failed on the way (network, chain, file system). */
export const EXIT_FAILED = 1;
/** The input is wrong; nothing was done. */
export const EXIT_USAGE = 2;
