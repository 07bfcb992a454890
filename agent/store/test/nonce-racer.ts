// Child process for the cross-process nonce test: tries to use digests [from, to) on a shared store and
// prints the ones it won as a JSON array. It prints 'ready' once open and starts on the first line of
// stdin, so two racers really run at the same time.
//   node --import tsx nonce-racer.ts <dbPath> <from> <to>

import { Store } from '../store.js';
import { digestOf } from './fixtures.js';

const [dbPath, from, to] = process.argv.slice(2);
if (!dbPath || from === undefined || to === undefined)
  throw new Error('usage: nonce-racer.ts <dbPath> <from> <to>');

const store = new Store(dbPath);
store.start();
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();
const won: number[] = [];
for (let i = Number(from); i < Number(to); i++) if (store.useNonce(digestOf(i), 2_000_000_000)) won.push(i);
store.stop();
process.stdout.write(`${JSON.stringify(won)}\n`);
