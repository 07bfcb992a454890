// Runs a chain watcher in its own process until killed, so a test can SIGKILL it mid-backfill.
// argv: rpcUrl contract deviceId dbPath chunkSize startBlock

import { silentLogger } from '../../log.js';
import { Store } from '../../store/store.js';
import { ChainWatcher } from '../watcher.js';

const [rpcUrl, contract, deviceId, dbPath, chunkSize, startBlock] = process.argv.slice(2);
if (!rpcUrl || !contract || !deviceId || !dbPath || !chunkSize || !startBlock)
  throw new Error('usage: watch-child rpcUrl contract deviceId db chunkSize startBlock');
const store = new Store(dbPath);
store.start();
const watcher = new ChainWatcher({
  rpcUrls: [rpcUrl],
  contract,
  deviceIds: [BigInt(deviceId)],
  confirmations: 1,
  pollMs: 50,
  chunkSize: Number(chunkSize),
  startBlock: Number(startBlock),
  store,
  log: silentLogger,
});
await watcher.start();
process.stdout.write('caught up\n');
