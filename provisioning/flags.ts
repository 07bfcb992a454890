// Command-line flags over node:util parseArgs, reporting every problem at once (parseArgs' strict mode
// stops at the first) and rendering each command's --help from the same table.

import { parseArgs } from 'node:util';

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** May be given more than once (collected in order). */
  multiple?: boolean;
  /** Reported as missing when absent. */
  required?: boolean;
  /** Placeholder shown in help, e.g. `<url>`. */
  value?: string;
  help: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export type FlagValues<F extends FlagSpecs> = {
  [K in keyof F]?: F[K]['type'] extends 'boolean'
    ? boolean
    : F[K]['multiple'] extends true
      ? string[]
      : string;
};

export interface ParsedFlags<F extends FlagSpecs> {
  values: FlagValues<F>;
  problems: string[];
  /** --help or -h was given: show help and ignore everything else. */
  help: boolean;
}

export function parseFlags<F extends FlagSpecs>(argv: readonly string[], specs: F): ParsedFlags<F> {
  const problems: string[] = [];
  const isString = (name: string) => Object.hasOwn(specs, name) && specs[name]?.type === 'string';
  // Non-strict parseArgs takes the next argument as a string option's value even when it is another
  // flag (`--rpc --contract 0x..`); such an option is reported as missing its value instead.
  const seen = new Set<string>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (
      arg.startsWith('--') &&
      !arg.includes('=') &&
      isString(arg.slice(2)) &&
      (next === undefined || next.startsWith('--'))
    ) {
      problems.push(`${arg} needs a value`);
      seen.add(arg.slice(2));
      continue;
    }
    args.push(arg);
  }

  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(specs)) options[name] = { type: spec.type };
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });

  const values: Record<string, string | string[] | boolean> = {};
  let help = false;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      problems.push(`unexpected argument ${JSON.stringify(token.value)}`);
      continue;
    }
    if (token.kind !== 'option') continue;
    if (token.name === 'help') {
      help = true;
      continue;
    }
    const spec = Object.hasOwn(specs, token.name) ? specs[token.name] : undefined;
    if (!spec) {
      problems.push(`unknown option ${token.rawName}`);
      continue;
    }
    seen.add(token.name);
    if (spec.type === 'boolean') {
      if (token.value !== undefined) problems.push(`${token.rawName} takes no value`);
      else values[token.name] = true;
      continue;
    }
    if (token.value === undefined || token.value === '') {
      problems.push(`${token.rawName} needs a value`);
      continue;
    }
    if (spec.multiple) {
      const list = (values[token.name] as string[] | undefined) ?? [];
      list.push(token.value);
      values[token.name] = list;
    } else if (values[token.name] !== undefined) {
      problems.push(`${token.rawName} is given more than once`);
    } else {
      values[token.name] = token.value;
    }
  }
  for (const [name, spec] of Object.entries(specs))
    if (spec.required && !seen.has(name)) problems.push(`missing --${name}`);
  return { values: values as FlagValues<F>, problems, help };
}

/** A command's --help: usage line, what it does, its flags, then notes (environment, examples). */
export function renderHelp(usage: string, description: string, specs: FlagSpecs, notes = ''): string {
  const rows = Object.entries(specs).map(([name, spec]) => [
    `--${name}${spec.value ? ` ${spec.value}` : ''}${spec.multiple ? ' ...' : ''}`,
    spec.help,
  ]);
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([flag]) => (flag ?? '').length)) + 2;
  const flags = rows.map(([flag, text]) => `  ${(flag ?? '').padEnd(width)}${text}`).join('\n');
  return `Usage: ${usage}\n\n${description}\n\nOptions:\n${flags}\n${notes ? `\n${notes.trimEnd()}\n` : ''}`;
}
