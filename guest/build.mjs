#!/usr/bin/env node
// Builds the guest page (guest/web/) with esbuild into guest/public/: the HTML shell, the app's entry
// and its lazily loaded chunks (the MQTT client), minified, with a size report. Runs at `npm install`
// of a clone (prepare), at `npm start` and `npm run build`. The release ships guest/public/ built.
//
// A static host other than the gateway: LATCHKEY_PAGE_CONFIG='{"infoUrl":"https://gw.example/api/info"}'
// (or any of the /api/info facts) is baked in as the page's defaults.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'web');
// `--out <dir>`: build somewhere else (a page for another host, a test's own build).
const outFlag = process.argv.indexOf('--out');
const out =
  outFlag > 0 && process.argv[outFlag + 1]
    ? path.resolve(process.argv[outFlag + 1])
    : path.join(here, 'public');

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  // An installed release has no esbuild and needs none: its guest/public/ is already built.
  if (existsSync(path.join(out, 'index.html'))) process.exit(0);
  console.error('guest/build.mjs: esbuild is missing (npm install) and guest/public/ is not built');
  process.exit(1);
}

const pageConfig = process.env.LATCHKEY_PAGE_CONFIG ?? '{}';
try {
  JSON.parse(pageConfig);
} catch (e) {
  console.error(`guest/build.mjs: LATCHKEY_PAGE_CONFIG is not JSON: ${e.message}`);
  process.exit(1);
}

if (existsSync(out) && readdirSync(out).length > 0 && !existsSync(path.join(out, 'index.html'))) {
  console.error(`guest/build.mjs: ${out} is not empty and holds no page build; refusing to clear it`);
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await esbuild.build({
  entryPoints: [path.join(src, 'main.ts')],
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'safari14', 'chrome90'],
  minify: true,
  legalComments: 'none',
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  define: { __PAGE_CONFIG__: pageConfig },
  metafile: true,
  logLevel: 'warning',
});
// The embedded default's development wallet: its own bundle, so the page's chunks never share the
// signing code it needs; fetched only where /api/info offers it (npm start). `--no-dev-wallet` (the
// release build) and `npm pack` / `npm publish` (which also run prepare) leave it out altogether.
const release =
  process.argv.includes('--no-dev-wallet') || ['pack', 'publish'].includes(process.env.npm_command ?? '');
if (!release)
  await esbuild.build({
    entryPoints: [path.join(src, 'devWallet.ts')],
    outfile: path.join(out, 'dev-wallet.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020', 'safari14', 'chrome90'],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
for (const f of ['index.html', 'style.css', 'favicon.svg'])
  copyFileSync(path.join(src, f), path.join(out, f));

// Sizes: what a phone loads to show the device screen (main.js and its static imports) and what it
// loads only later: the MQTT client when it talks to the broker, the session-key module (guest/session.ts)
// when a rental is shown. `lazy` is their sum, `lazyParts` each one (a chunk and what only it imports).
const sizes = { firstLoad: { bytes: 0, gzipBytes: 0 }, lazy: { bytes: 0, gzipBytes: 0 }, lazyParts: {} };
const outputs = result.metafile.outputs;
const mainOut = Object.entries(outputs).find(([, o]) => o.entryPoint?.endsWith('web/main.ts'))?.[0];
const firstLoad = new Set([mainOut]);
for (const i of outputs[mainOut]?.imports ?? []) if (i.kind === 'import-statement') firstLoad.add(i.path);
const measure = (file) => {
  const bytes = readFileSync(file);
  return { bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
};
const add = (part, m) => {
  part.bytes += m.bytes;
  part.gzipBytes += m.gzipBytes;
};
const counted = new Set(firstLoad);
for (const file of firstLoad) add(sizes.firstLoad, measure(file));
for (const i of outputs[mainOut]?.imports ?? []) {
  if (i.kind !== 'dynamic-import' || counted.has(i.path)) continue;
  const entry = outputs[i.path]?.entryPoint ?? i.path;
  const name = /node_modules\/([^/]+)/.exec(entry)?.[1] ?? path.basename(entry).replace(/\.[^.]+$/, '');
  const part = { bytes: 0, gzipBytes: 0 };
  for (const file of [i.path, ...(outputs[i.path]?.imports ?? []).map((x) => x.path)]) {
    if (counted.has(file) || !file.endsWith('.js')) continue;
    counted.add(file);
    add(part, measure(file));
  }
  sizes.lazyParts[name] = part;
  add(sizes.lazy, part);
}
writeFileSync(path.join(out, 'size.json'), `${JSON.stringify(sizes, null, 2)}\n`);
const kB = (n) => (n / 1024).toFixed(1);
if (!process.env.npm_lifecycle_event?.startsWith('prepare') || process.env.LATCHKEY_BUILD_VERBOSE)
  console.log(
    `guest page: ${kB(sizes.firstLoad.gzipBytes)} kB gzipped to show a device (${kB(sizes.firstLoad.bytes)} kB of JavaScript), ` +
      `${kB(sizes.lazy.gzipBytes)} kB more loaded later (${kB(sizes.lazy.bytes)} kB): ` +
      Object.entries(sizes.lazyParts)
        .map(([name, p]) => `${name} ${kB(p.gzipBytes)} kB (${kB(p.bytes)} kB)`)
        .join(', '),
  );
