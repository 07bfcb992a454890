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
const out = path.join(here, 'public');

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
for (const f of ['index.html', 'style.css', 'favicon.svg'])
  copyFileSync(path.join(src, f), path.join(out, f));

let js = 0;
let gz = 0;
for (const f of readdirSync(out)) {
  if (!f.endsWith('.js')) continue;
  const bytes = readFileSync(path.join(out, f));
  js += bytes.length;
  gz += gzipSync(bytes, { level: 9 }).length;
}
const report = {
  javascriptBytes: js,
  javascriptGzipBytes: gz,
  files: Object.keys(result.metafile.outputs).length,
};
writeFileSync(path.join(out, 'size.json'), `${JSON.stringify(report, null, 2)}\n`);
if (!process.env.npm_lifecycle_event?.startsWith('prepare') || process.env.LATCHKEY_BUILD_VERBOSE)
  console.log(`guest page: ${(js / 1024).toFixed(1)} kB of JavaScript, ${(gz / 1024).toFixed(1)} kB gzipped`);
