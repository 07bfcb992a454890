// Test child for crash.test.ts: drives one socket controller against a real store and a SimRelay
// whose contact is mirrored into a file (the "hardware", which outlives the process), until SIGKILLed.
// Usage: node --import tsx crash.child.ts <db path> <relay state file> <rental id>

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { SimRelay } from '../../hardware/sim.js';
import { Store } from '../store/store.js';
import { testController } from './testkit.js';

const [dbPath, relayFile, rentalIdText] = process.argv.slice(2);
if (!dbPath || !relayFile || !rentalIdText)
  throw new Error('usage: crash.child.ts <db> <relay file> <rental id>');

const relay = new SimRelay({ closed: existsSync(relayFile) && readFileSync(relayFile, 'utf8') === 'closed' });
relay.on('switch', (s) => writeFileSync(relayFile, s.closed ? 'closed' : 'open'));

const store = new Store(dbPath);
store.start();
const ctl = testController(relay, store, { checkpointSeconds: 0.1 });
await ctl.start();
const rental = store.getRental(BigInt(rentalIdText));
if (!rental) throw new Error('rental not in store');
await ctl.apply({ rental, action: 'on' });
process.stdout.write('on\n');
// stay alive (the checkpoint timer keeps the loop busy) until killed
