// Test fixtures for the device controllers: a real SQLite store in a temp dir, rentals, a device key.

import { domainSeparator, hexToBytes } from '../../contracts/eip712.js';
import { domain, type Rental } from '../../contracts/typedData.js';
import type { Relay } from '../../hardware/relay.js';
import { silentLogger } from '../log.js';
import type { Store, StoredRental } from '../store/store.js';
import { tempStore as storeInTempDir } from '../store/test/fixtures.js';
import { DeviceController, type DeviceControllerDeps } from './controller.js';
import { ReceiptKeys } from './receiptKeys.js';
import { ReceiptSigner } from './receipts.js';

export const DEVICE_KEY = hexToBytes('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
export const GUEST = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
export const SEPARATOR = domainSeparator(domain(31337n, '0x5fbdb2315678afecb367f032d93f642f64180aa3'));

export function signer(): ReceiptSigner {
  return new ReceiptSigner(DEVICE_KEY, SEPARATOR);
}

/** Device 1, a socket with a 5 s pulse, the test key, the wall clock and a silent log; `over` changes any. */
export function testController(
  relay: Relay,
  store: Store,
  over: Partial<DeviceControllerDeps> = {},
): DeviceController {
  return new DeviceController({
    deviceId: 1n,
    kind: 'socket',
    pulseSeconds: 5,
    relay,
    store,
    keys: new ReceiptKeys(signer()),
    now: unixNow,
    log: silentLogger,
    ...over,
  });
}

/** A temp-dir SQLite store, started; `cleanup()` closes and removes it. */
export const tempStore = () => storeInTempDir('latchkey-devices-');

/** An open rental of `deviceId` (sequence `seq`) from `start` to `end` unix seconds. */
export function rentalOf(
  deviceId: bigint,
  seq: bigint,
  start: number,
  end: number,
  extra: Partial<Rental & StoredRental> = {},
): StoredRental {
  return {
    id: (deviceId << 64n) | seq,
    guest: GUEST,
    start: BigInt(start),
    end: BigInt(end),
    deposit: 2n * 10n ** 15n,
    pricePerSecond: 10n ** 9n,
    pricePerWh: 0n,
    signer: '0x00000000000000000000000000000000005e1e57',
    maxWatts: 0n,
    cancelWindow: 0n,
    deviceId,
    status: 'open',
    blockNumber: 1,
    blockHash: `0x${'ab'.repeat(32)}`,
    ...extra,
  };
}

export const unixNow = (): number => Math.floor(Date.now() / 1000);
