#!/usr/bin/env node
// Compiles contracts/src/*.sol with solc-js into contracts/generated/latchkey.ts (ABI, bytecode, types).
// Runs at `npm install` of a clone (prepare), so it skips the compiler when nothing that affects the
// output has changed. A release (npm pack) ships the compiled module in dist/ and no sources: nothing to do.
// Compiler settings come from foundry.toml so the TypeScript side deploys the bytecode forge tests.
// Flags: --force (compile anyway), --check (exit 3 if the output is stale, compile nothing).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const srcDir = path.join(here, 'src');
const outDir = path.join(here, 'generated');
const outFile = path.join(outDir, 'latchkey.ts');
const stampFile = path.join(outDir, 'latchkey.stamp');
const CONTRACT = 'Latchkey';
const mainSource = `contracts/src/${CONTRACT}.sol`;

const rel = (p) => path.relative(process.cwd(), p) || '.';

function fail(message) {
  console.error(`contracts/build.mjs: ${message}`);
  process.exit(1);
}

/** The few `[profile.default]` keys of foundry.toml that change the bytecode (a flat-key TOML subset). */
function readFoundryProfile() {
  const file = path.join(root, 'foundry.toml');
  if (!existsSync(file)) return {};
  const profile = {};
  let section = '';
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1].trim();
      continue;
    }
    const kv = /^([A-Za-z0-9_]+)\s*=\s*(.+)$/.exec(line);
    if (!kv || section !== 'profile.default') continue;
    profile[kv[1]] = parseTomlValue(kv[2], kv[1]);
  }
  return profile;
}

function parseTomlValue(text, key) {
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^[0-9_]+$/.test(text)) return Number(text.replaceAll('_', ''));
  if (/^"[^"]*"$/.test(text)) return text.slice(1, -1);
  if (/^\[.*\]$/.test(text)) return [...text.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
  fail(`foundry.toml: cannot read the value of ${key}: ${text}`);
}

// Defaults when foundry.toml does not say: optimize hard for the per-rental calls (rent, checkout),
// which run far more often than the one deployment whose size the runs setting trades against.
function compilerSettings(profile) {
  const settings = {
    optimizer: { enabled: profile.optimizer ?? true, runs: profile.optimizer_runs ?? 10_000 },
    evmVersion: profile.evm_version ?? 'prague',
    viaIR: profile.via_ir ?? false,
    metadata: {
      bytecodeHash: profile.bytecode_hash ?? 'none',
      appendCBOR: profile.cbor_metadata ?? false,
    },
  };
  const remappings = (
    profile.remappings ?? ['@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/']
  ).map((r) => {
    const eq = r.indexOf('=');
    if (eq < 0) fail(`foundry.toml: remapping without '=': ${r}`);
    return { prefix: r.slice(0, eq), target: r.slice(eq + 1) };
  });
  return { settings, remappings };
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
  } catch {
    return 'missing';
  }
}

/** Resolves an import the way forge does here: remappings, then the repo root, then node_modules. */
function makeImportResolver(remappings, read) {
  return (importPath) => {
    const candidates = [];
    for (const { prefix, target } of remappings)
      if (importPath.startsWith(prefix))
        candidates.push(path.join(root, target, importPath.slice(prefix.length)));
    candidates.push(path.join(root, importPath));
    for (let dir = root; ; dir = path.dirname(dir)) {
      candidates.push(path.join(dir, 'node_modules', importPath));
      if (path.dirname(dir) === dir) break;
    }
    for (const candidate of candidates) {
      if (existsSync(candidate)) return { contents: read(candidate, importPath) };
    }
    return { error: `File not found: ${importPath}` };
  };
}

// ---------------------------------------------------------------- TypeScript emission

function inputType(p) {
  const arr = /^(.*)\[(\d*)\]$/.exec(p.type);
  if (arr) return `readonly ${wrap(inputType({ ...p, type: arr[1] }))}[]`;
  if (p.type === 'tuple') return `{ ${p.components.map((c) => `${c.name}: ${inputType(c)}`).join('; ')} }`;
  if (/^u?int\d*$/.test(p.type)) return 'BigNumberish';
  if (p.type === 'address') return 'AddressLike';
  if (p.type === 'bool') return 'boolean';
  if (p.type === 'string') return 'string';
  if (/^bytes\d*$/.test(p.type)) return 'BytesLike';
  fail(`no TypeScript input type for ABI type ${p.type}`);
}

function outputType(p) {
  const arr = /^(.*)\[(\d*)\]$/.exec(p.type);
  if (arr) return `${wrap(outputType({ ...p, type: arr[1] }))}[]`;
  if (p.type === 'tuple')
    return `{ readonly ${p.components.map((c) => `${c.name}: ${outputType(c)}`).join('; readonly ')} }`;
  if (/^u?int\d*$/.test(p.type)) return 'bigint';
  if (p.type === 'address' || p.type === 'string' || /^bytes\d*$/.test(p.type)) return 'string';
  if (p.type === 'bool') return 'boolean';
  fail(`no TypeScript output type for ABI type ${p.type}`);
}

const wrap = (t) => (t.includes(' ') ? `(${t})` : t);
const argName = (p, i) => (p.name ? p.name : `arg${i}`);

function emitTypes(abi) {
  const functions = abi.filter((f) => f.type === 'function');
  const counts = new Map();
  for (const f of functions) counts.set(f.name, (counts.get(f.name) ?? 0) + 1);
  const methods = functions
    .filter((f) => counts.get(f.name) === 1) // overloads stay reachable through getFunction()
    .map((f) => {
      const args = f.inputs.map((p, i) => `${argName(p, i)}: ${inputType(p)}`).join(', ');
      const result =
        f.outputs.length === 0 ? 'void' : f.outputs.length === 1 ? outputType(f.outputs[0]) : 'Result';
      const view = f.stateMutability === 'view' || f.stateMutability === 'pure';
      const sent = view ? result : 'ContractTransactionResponse';
      return `  ${f.name}: BaseContractMethod<[${args}], ${result}, ${sent}>;`;
    });
  const events = abi
    .filter((e) => e.type === 'event')
    .map((e) => {
      const fields = e.inputs.map((p, i) => `readonly ${argName(p, i)}: ${outputType(p)}`);
      return `  ${e.name}: ${fields.length === 0 ? 'Record<string, never>' : `{ ${fields.join('; ')} }`};`;
    });
  const errors = abi.filter((e) => e.type === 'error').map((e) => `'${e.name}'`);
  return [
    `/** The ${CONTRACT} contract as ethers v6 sees it, one typed method per ABI function. */`,
    `export interface ${CONTRACT}Contract extends BaseContract {`,
    ...methods,
    '}',
    '',
    '/** Decoded arguments of each event, by event name. */',
    `export interface ${CONTRACT}EventArgs {`,
    ...events,
    '}',
    '',
    '/** Names of the custom errors the contract reverts with. */',
    `export type ${CONTRACT}ErrorName = ${errors.join(' | ') || 'never'};`,
  ].join('\n');
}

function emitModule(abi, bytecode, deployedBytecode, build) {
  return [
    `// Generated by contracts/build.mjs from contracts/src/${CONTRACT}.sol — do not edit; run npm run build:contracts.`,
    "import type { AddressLike, BaseContract, BaseContractMethod, BigNumberish, BytesLike, ContractTransactionResponse, Result } from 'ethers';",
    '',
    `export const latchkeyAbi = ${JSON.stringify(abi, null, 2)} as const;`,
    '',
    `export const latchkeyBytecode: \`0x\${string}\` = '0x${bytecode}';`,
    '',
    `/** Runtime code; its length is what counts against the 24 KiB contract size limit. */`,
    `export const latchkeyDeployedBytecode: \`0x\${string}\` = '0x${deployedBytecode}';`,
    '',
    '/** How this bytecode was made. */',
    `export const latchkeyBuild = ${JSON.stringify(build, null, 2)} as const;`,
    '',
    emitTypes(abi),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- main

if (!existsSync(srcDir) && existsSync(path.join(root, 'dist/contracts/generated/latchkey.js')))
  process.exit(0);
if (!existsSync(path.join(root, mainSource)))
  fail(`${mainSource} is missing; it is the contract this builds.`);

const profile = readFoundryProfile();
const { settings, remappings } = compilerSettings(profile);
const sourceNames = readdirSync(srcDir)
  .filter((f) => f.endsWith('.sol'))
  .sort()
  .map((f) => `contracts/src/${f}`);
const sources = Object.fromEntries(
  sourceNames.map((name) => [name, { content: readFileSync(path.join(root, name), 'utf8') }]),
);

// Everything the output depends on; imports from node_modules are pinned by their package versions.
const fingerprint = createHash('sha256')
  .update(readFileSync(fileURLToPath(import.meta.url)))
  .update(JSON.stringify({ settings, remappings }))
  .update(`solc@${packageVersion('solc')} oz@${packageVersion('@openzeppelin/contracts')}`);
for (const name of sourceNames) fingerprint.update(`\0${name}\0${sources[name].content}`);
const hash = fingerprint.digest('hex');

const upToDate =
  existsSync(outFile) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === hash;
if (process.argv.includes('--check')) {
  // For tests and benchmarks, which import the generated module and must not run stale bytecode.
  if (upToDate) process.exit(0);
  console.error(
    `contracts/build.mjs: ${rel(outFile)} is out of date with contracts/src; run npm run build:contracts`,
  );
  process.exit(3);
}
if (upToDate && !process.argv.includes('--force')) {
  console.log(`contracts/build.mjs: ${rel(outFile)} is up to date.`);
  process.exit(0);
}

const solc = require('solc');
const input = {
  language: 'Solidity',
  sources,
  settings: {
    ...settings,
    outputSelection: {
      [mainSource]: { [CONTRACT]: ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
    },
  },
};
const started = Date.now();
const output = JSON.parse(
  solc.compile(JSON.stringify(input), {
    import: makeImportResolver(remappings, (file) => readFileSync(file, 'utf8')),
  }),
);
const problems = output.errors ?? [];
const errors = problems.filter((e) => e.severity === 'error');
for (const p of problems) {
  if (p.severity === 'error' || p.severity === 'warning') console.error(p.formattedMessage ?? p.message);
}
if (errors.length > 0) fail(`${errors.length} compiler error(s) in contracts/src; nothing written.`);

const artifact = output.contracts?.[mainSource]?.[CONTRACT];
if (!artifact?.evm?.bytecode?.object) fail(`solc produced no bytecode for ${CONTRACT} in ${mainSource}.`);
const deployedBytecode = artifact.evm.deployedBytecode.object;
const build = {
  contract: CONTRACT,
  solcVersion: solc.version(),
  optimizer: settings.optimizer,
  evmVersion: settings.evmVersion,
  viaIR: settings.viaIR,
  metadata: settings.metadata,
  sourceHash: hash,
  deployedSize: deployedBytecode.length / 2,
};

mkdirSync(outDir, { recursive: true });
// Write-then-rename so a concurrent reader never sees half a module.
writeFileSync(
  `${outFile}.tmp`,
  emitModule(artifact.abi, artifact.evm.bytecode.object, deployedBytecode, build),
);
renameSync(`${outFile}.tmp`, outFile);
writeFileSync(stampFile, `${hash}\n`);
console.log(
  `contracts/build.mjs: compiled ${sourceNames.length} source(s) with solc ${build.solcVersion} ` +
    `(optimizer ${settings.optimizer.enabled ? `runs=${settings.optimizer.runs}` : 'off'}, ${settings.evmVersion}) ` +
    `in ${((Date.now() - started) / 1000).toFixed(1)} s → ${rel(outFile)} (runtime ${build.deployedSize} bytes)`,
);
