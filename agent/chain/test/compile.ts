// Compiles a test-only Solidity file with the solc-js the project already uses (no network).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';

const require = createRequire(import.meta.url);

export interface Compiled {
  abi: unknown[];
  bytecode: `0x${string}`;
}

export function compileTestContract(path: string, name: string): Compiled {
  const solc = require('solc') as { compile(input: string): string };
  const file = basename(path);
  const input = {
    language: 'Solidity',
    sources: { [file]: { content: readFileSync(path, 'utf8') } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'prague',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const c = out.contracts?.[file]?.[name];
  if (!c) throw new Error(`${name} not found in ${file}`);
  return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
}
