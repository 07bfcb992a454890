// Child process for the crash test: commits numbered steps in a loop and prints each step after its
// commit returned, until the parent kills it with SIGKILL.
//   node --import tsx crash-writer.ts <dbPath>

import { randomBytes } from 'node:crypto';
import { Store } from '../store.js';
import { digestOf, sampleReceipt, sampleRental } from './fixtures.js';

const dbPath = process.argv[2];
if (!dbPath) throw new Error('usage: crash-writer.ts <dbPath>');

const store = new Store(dbPath);
store.start();
let step = (store.getCursor()?.block ?? 0) + 1;
process.stdout.write('ready\n');

for (;;) {
  const i = step;
  const id = (7n << 64n) | BigInt(i);
  store.tx(() => {
    if (!store.useNonce(digestOf(i), 2_000_000_000)) throw new Error(`nonce ${i} already used`);
    store.putRental(sampleRental({ id, blockNumber: i, blockHash: digestOf(i) }));
    if (!store.putReceipt(sampleReceipt(id))) throw new Error(`receipt ${i} already queued`);
    if (i > 1) store.updateReceipt(id - 1n, { status: 'settled', txHash: digestOf(i) });
    store.markLogSeen(`${digestOf(i)}:0`, i);
    // A few KiB per step so one commit spans several pages and a kill can land in the middle of it.
    store.audit({
      at: i,
      deviceId: 7n,
      rentalId: id,
      action: 'step',
      actor: 'crash-writer',
      outcome: 'ok',
      reason: randomBytes(1500 + (i % 7) * 500).toString('hex'),
    });
    store.putDeviceRuntime({
      deviceId: 7n,
      rentalId: id,
      relayClosed: i % 2 === 0,
      usedSeconds: i,
      energyWh: i,
      updatedAt: i,
    });
    store.setCursor(i, digestOf(i));
  });
  process.stdout.write(`${i}\n`);
  step++;
}
