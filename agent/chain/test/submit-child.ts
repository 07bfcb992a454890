// Runs one receipt-submitter flush in its own process, so a test can kill it with SIGKILL mid-way.
// argv: rpcUrl contract privateKey dbPath

import { silentLogger } from '../../log.js';
import { Store } from '../../store/store.js';
import { ReceiptSubmitter } from '../submitter.js';

const [rpcUrl, contract, privateKey, dbPath] = process.argv.slice(2);
if (!rpcUrl || !contract || !privateKey || !dbPath)
  throw new Error('usage: submit-child rpcUrl contract key db');
const store = new Store(dbPath);
store.start();
const submitter = new ReceiptSubmitter({ rpcUrls: [rpcUrl], contract, privateKey, store, log: silentLogger });
process.stdout.write('ready\n');
await submitter.flush();
process.stdout.write('flushed\n');
await submitter.stop();
store.stop();
