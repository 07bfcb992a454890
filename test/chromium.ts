// Debian's Chromium for the browser tests, started the way this closed network needs: headless, no
// sandbox (root), and none of the background connections it would otherwise try and fail.
// `chromiumMissing` is true where the package is not installed; under CI that is an error.

import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

export const chromiumMissing = !existsSync(CHROMIUM);
if (chromiumMissing && process.env.CI) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
