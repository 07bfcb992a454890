import {
  type ContractTransactionReceipt,
  getAddress,
  keccak256,
  toUtf8Bytes,
  Wallet,
  ZeroAddress,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Anvil, startAnvil } from './anvil.js';
import { assertContractsBuilt } from './buildCheck.js';
import {
  type DeviceParams,
  deployLatchkey,
  type LatchkeyContract,
  latchkeyAt,
  MAX_DEPOSIT_FACTOR,
  mined,
  registerDevice,
} from './deploy.js';
import {
  addressOfPrivateKey,
  bytesToHex,
  domainSeparator,
  hexToBytes,
  receiptDigest,
  signDigest,
} from './eip712.js';
import { findLatchkeyEvent } from './events.js';
import {
  energyAllowanceWh,
  extendRental,
  nextStart,
  receiptCharge,
  rentalFromReceipt,
  rentDevice,
} from './rental.js';
import { latchkeyRevert } from './revert.js';
import { domain, type Receipt } from './typedData.js';

const GRACE = 600n;
const PRICE = 1_000_000_000_000n; // wei per second
const PRICE_WH = 3_000_000_000n; // wei per Wh
const deviceKey = hexToBytes(keccak256(toUtf8Bytes('latchkey test device key')));

let anvil: Anvil;
let host: Wallet;
let guest: Wallet;
let stranger: Wallet;
let address: string;
let asHost: LatchkeyContract;
let asGuest: LatchkeyContract;
let asStranger: LatchkeyContract;
let separator: Uint8Array;

beforeAll(async () => {
  assertContractsBuilt();
  anvil = await startAnvil({ quiet: true });
  const [a, b, c] = anvil.accounts;
  if (!a || !b || !c) throw new Error('anvil reported fewer than 3 dev accounts');
  host = new Wallet(a.privateKey, anvil.provider);
  guest = new Wallet(b.privateKey, anvil.provider);
  stranger = new Wallet(c.privateKey, anvil.provider);
  ({ address, contract: asHost } = await deployLatchkey(host, { graceSeconds: GRACE }));
  asGuest = latchkeyAt(address, guest);
  asStranger = latchkeyAt(address, stranger);
  separator = domainSeparator(domain(anvil.chainId, address));
});

afterAll(async () => {
  await anvil?.stop();
});

const fee = (r: ContractTransactionReceipt) => r.gasUsed * r.gasPrice;
const balance = (who: string) => anvil.provider.getBalance(who);

function signReceipt(receipt: Receipt, key = deviceKey): string {
  return bytesToHex(signDigest(receiptDigest(separator, receipt), key));
}

// Each test gets its own device so bookings never collide.
async function newDevice(over: Partial<DeviceParams> = {}): Promise<bigint> {
  const params: DeviceParams = {
    signer: addressOfPrivateKey(deviceKey),
    kind: 'socket',
    pricePerSecond: PRICE,
    pricePerWh: PRICE_WH,
    minDuration: 60,
    maxDuration: 86_400,
    maxWatts: 3_600, // an energy allowance of exactly 1 Wh a second
    ...over,
  };
  return (await registerDevice(asHost, params)).deviceId;
}

async function expectRevert(action: Promise<unknown>, errorName: string): Promise<unknown[]> {
  const error = await action.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a revert with ${errorName}`).toBeDefined();
  const revert = latchkeyRevert(error);
  expect(revert?.name).toBe(errorName);
  return revert?.args ?? [];
}

describe('Latchkey on anvil', () => {
  it('computes the same receipt digest as contracts/eip712.ts', async () => {
    for (const r of [
      { rentalId: (1n << 64n) | 7n, secondsUsed: 1_234n, energyWh: 56n },
      { rentalId: (1n << 256n) - 1n, secondsUsed: (1n << 64n) - 1n, energyWh: 0n },
    ]) {
      expect(await asHost.receiptDigest(r)).toBe(bytesToHex(receiptDigest(separator, r)));
    }
  });

  it('registers a device with the id and fields from DeviceRegistered', async () => {
    const first = await newDevice({ kind: 'lock' });
    const second = await newDevice();
    expect(second).toBe(first + 1n);
    const d = await asHost.device(second);
    expect(d.host).toBe(host.address);
    expect(d.signer.toLowerCase()).toBe(addressOfPrivateKey(deviceKey));
    expect(d.pricePerSecond).toBe(PRICE);
    expect(d.depositFactor).toBe(200n);
    expect((await asHost.device(first)).kind).toBe(0n);
  });

  it('rents, checks out with a device-signed receipt, and pays host and guest to the wei', async () => {
    const deviceId = await newDevice();
    const contractBefore = await balance(address);
    const guestBefore = await balance(guest.address);

    const { rental, receipt: rented } = await rentDevice(asGuest, deviceId, 3_600);
    const deposit = PRICE * 3_600n * 2n + PRICE_WH * 3_600n; // rent × 2 + the energy allowance
    expect(rental).toMatchObject({
      guest: guest.address,
      deposit,
      pricePerSecond: PRICE,
      pricePerWh: PRICE_WH,
    });
    expect(rental.id >> 64n).toBe(deviceId);
    expect(rental.end - rental.start).toBe(3_600n);
    expect(await asGuest.isOpen(rental)).toBe(true);
    expect(await balance(address)).toBe(contractBefore + deposit);
    expect(await balance(guest.address)).toBe(guestBefore - deposit - fee(rented));

    // The agent (here a stranger) submits the receipt: anyone may, and only gas is theirs.
    const usage: Receipt = { rentalId: rental.id, secondsUsed: 1_200n, energyWh: 50n };
    const charge = PRICE * 1_200n + PRICE_WH * 50n;
    const creditBefore = await asHost.credit(host.address);
    const settled = await mined((await asStranger.checkout(rental, usage, signReceipt(usage))).wait());

    expect(findLatchkeyEvent(settled, 'Settled')?.args).toMatchObject({
      rentalId: rental.id,
      charge,
      refund: deposit - charge,
      byReceipt: true,
    });
    expect(await balance(guest.address)).toBe(guestBefore - fee(rented) - charge);
    expect(await asHost.credit(host.address)).toBe(creditBefore + charge);
    expect(await balance(address)).toBe(contractBefore + charge);
    expect(await asGuest.isOpen(rental)).toBe(false);
    await expectRevert(asStranger.checkout(rental, usage, signReceipt(usage)), 'RentalNotOpen');

    // The host withdraws everything credited to it, and nothing is left for it.
    const credit = await asHost.credit(host.address);
    const hostBefore = await balance(host.address);
    const withdrawn = await mined((await asHost.withdraw()).wait());
    expect(await balance(host.address)).toBe(hostBefore + credit - fee(withdrawn));
    expect(await balance(address)).toBe(contractBefore + charge - credit);
    expect(await asHost.credit(host.address)).toBe(0n);
    await expectRevert(asHost.withdraw(), 'NothingToWithdraw');
  });

  it('caps the charge at the deposit and refuses receipts signed by another key or for another rental', async () => {
    const deviceId = await newDevice();
    const { rental } = await rentDevice(asGuest, deviceId, 600);
    const usage: Receipt = { rentalId: rental.id, secondsUsed: 1_000_000n, energyWh: 0n };
    const otherKey = hexToBytes(keccak256(toUtf8Bytes('not the device')));
    await expectRevert(
      asStranger.checkout(rental, usage, signReceipt(usage, otherKey)),
      'InvalidReceiptSignature',
    );
    const wrongRental = { ...usage, rentalId: rental.id + 1n };
    await expectRevert(
      asStranger.checkout(rental, wrongRental, signReceipt(wrongRental)),
      'InvalidReceiptSignature',
    );

    const guestBefore = await balance(guest.address);
    const settled = await mined((await asStranger.checkout(rental, usage, signReceipt(usage))).wait());
    expect(findLatchkeyEvent(settled, 'Settled')?.args).toMatchObject({ charge: rental.deposit, refund: 0n });
    expect(await balance(guest.address)).toBe(guestBefore);
  });

  it('extends a rental and settles the extended commitment, not the stale one', async () => {
    const deviceId = await newDevice();
    const { rental } = await rentDevice(asGuest, deviceId, 600);
    const { rental: longer, receipt } = await extendRental(asGuest, rental, 300);
    expect(longer).toEqual({
      ...rental,
      end: rental.end + 300n,
      deposit: PRICE * 900n * 2n + PRICE_WH * 900n,
    });
    expect(rentalFromReceipt(receipt, await asGuest.getAddress(), rental)).toEqual(longer);
    expect(() => rentalFromReceipt(receipt, ZeroAddress, rental)).toThrow(/no Rented or Extended log/);
    expect(await asGuest.isOpen(rental)).toBe(false);

    const usage: Receipt = { rentalId: rental.id, secondsUsed: 700n, energyWh: 0n };
    await expectRevert(asStranger.checkout(rental, usage, signReceipt(usage)), 'RentalNotOpen');
    await mined((await asStranger.checkout(longer, usage, signReceipt(usage))).wait());
    expect(await asGuest.isOpen(longer)).toBe(false);
  });

  it('books any free window in any order, and frees the slots of an early checkout', async () => {
    const deviceId = await newDevice();
    expect(await nextStart(asGuest, deviceId, 600)).toBe(0n);
    const head = BigInt((await anvil.provider.getBlock('latest'))?.timestamp ?? 0);
    const later = (await rentDevice(asGuest, deviceId, 600, { start: head + 7_200n })).rental;
    const { rental } = await rentDevice(asGuest, deviceId, 600); // now, after the later one was booked
    const [slotStart] = await expectRevert(rentDevice(asStranger, deviceId, 600), 'WindowTaken');
    expect(slotStart).toBe((rental.start / 60n) * 60n);
    const next = await nextStart(asGuest, deviceId, 600);
    expect(next).toBe(((rental.end + 59n) / 60n) * 60n);
    await expectRevert(rentDevice(asStranger, deviceId, 600, { start: later.start - 300n }), 'WindowTaken');

    // Checked out 10 s into a slot: the rest of that slot is free at once, so a rental "from now"
    // 5 s later starts inside it.
    const now = BigInt((await anvil.provider.getBlock('latest'))?.timestamp ?? 0);
    const at = (now / 60n + 1n) * 60n + 10n;
    await anvil.provider.send('evm_setNextBlockTimestamp', [Number(at)]);
    const usage: Receipt = { rentalId: rental.id, secondsUsed: 10n, energyWh: 0n };
    const settled = await mined((await asStranger.checkout(rental, usage, signReceipt(usage))).wait());
    expect((await anvil.provider.getBlock(settled.blockNumber))?.timestamp).toBe(Number(at));
    await anvil.provider.send('evm_setNextBlockTimestamp', [Number(at + 5n)]);
    const { rental: again } = await rentDevice(asGuest, deviceId, 600);
    expect(again).toMatchObject({ id: later.id + 2n, start: at + 5n, end: at + 605n });
    expect(again.start).toBeLessThan(rental.end);
    expect(await asGuest.isOpen(later)).toBe(true);
  });

  it('bounds the deposit factor at MAX_DEPOSIT_FACTOR and quotes the worst case', async () => {
    expect(await asGuest.MAX_DEPOSIT_FACTOR()).toBe(BigInt(MAX_DEPOSIT_FACTOR));
    await expectRevert(newDevice({ depositFactor: MAX_DEPOSIT_FACTOR + 1 }), 'InvalidDevice');
    const deviceId = await newDevice({ depositFactor: MAX_DEPOSIT_FACTOR });
    const q = await asGuest.quote(deviceId, 3_600);
    const deposit = 4n * PRICE * 3_600n + PRICE_WH * 3_600n;
    const { deposit: d, maxCharge, rent, energyWh, energyCost } = q;
    expect({ deposit: d, maxCharge, rent, energyWh, energyCost }).toEqual({
      deposit,
      maxCharge: deposit,
      rent: PRICE * 3_600n,
      energyWh: 3_600n,
      energyCost: PRICE_WH * 3_600n,
    });
    const { rental } = await rentDevice(asGuest, deviceId, 3_600);
    expect(rental.deposit).toBe(q.deposit);
  });

  it('settles a rental by the receipt of the key it was made under after a rotation, not after a revoke', async () => {
    const deviceId = await newDevice();
    const { rental } = await rentDevice(asGuest, deviceId, 3_600);
    expect(rental.signer).toBe(getAddress(addressOfPrivateKey(deviceKey)));
    const nextKey = hexToBytes(keccak256(toUtf8Bytes('latchkey test rotated key')));
    await mined((await asHost.setSigner(deviceId, addressOfPrivateKey(nextKey))).wait());
    const start = ((rental.end + 59n) / 60n) * 60n; // the next slot boundary: rental holds the slot it ends in
    const { rental: later } = await rentDevice(asGuest, deviceId, 600, { start });
    expect(later.signer).toBe(getAddress(addressOfPrivateKey(nextKey)));

    // The new key cannot settle the rental made before the rotation; the old one still can.
    const usage: Receipt = { rentalId: rental.id, secondsUsed: 30n, energyWh: 1n };
    await expectRevert(
      asStranger.checkout(rental, usage, signReceipt(usage, nextKey)),
      'InvalidReceiptSignature',
    );
    const settled = await mined((await asStranger.checkout(rental, usage, signReceipt(usage))).wait());
    expect(findLatchkeyEvent(settled, 'Settled')?.args.charge).toBe(PRICE * 30n + PRICE_WH);

    // A stolen key: once revoked, its receipts settle nothing and it takes no new rentals.
    const revoked = await mined((await asHost.revokeSigner(addressOfPrivateKey(nextKey))).wait());
    expect(findLatchkeyEvent(revoked, 'SignerRevoked')?.args).toMatchObject({
      host: host.address,
      signer: getAddress(addressOfPrivateKey(nextKey)),
    });
    expect(await asGuest.isRevoked(host.address, addressOfPrivateKey(nextKey))).toBe(true);
    const late: Receipt = { rentalId: later.id, secondsUsed: 0n, energyWh: 0n };
    await expectRevert(asStranger.checkout(later, late, signReceipt(late, nextKey)), 'RevokedSigner');
    await expectRevert(rentDevice(asGuest, deviceId, 600, { start: later.end }), 'RevokedSigner');
    await mined((await asGuest.cancel(later)).wait());
  });

  it('prepays an energy allowance: receipts charge energy up to it, settling by time all of it', async () => {
    const deviceId = await newDevice({ maxWatts: 100 });
    const { rental } = await rentDevice(asGuest, deviceId, 60); // 100 W for a minute: 1.67 Wh → 2 Wh
    expect(rental.maxWatts).toBe(100n);
    expect(energyAllowanceWh(rental)).toBe(2n);
    expect(rental.deposit).toBe(PRICE * 60n * 2n + PRICE_WH * 2n);
    const { rental: longer } = await extendRental(asGuest, rental, 60); // 3.33 Wh → 4 Wh in all
    expect(energyAllowanceWh(longer)).toBe(4n);
    expect(longer.deposit).toBe(rental.deposit + PRICE * 60n * 2n + PRICE_WH * 2n);

    // A meter reading above the allowance is charged up to it, no further.
    const usage: Receipt = { rentalId: longer.id, secondsUsed: 30n, energyWh: 50n };
    const byReceipt = await mined((await asStranger.checkout(longer, usage, signReceipt(usage))).wait());
    expect(receiptCharge(longer, usage)).toBe(PRICE * 30n + PRICE_WH * 4n);
    expect(findLatchkeyEvent(byReceipt, 'Settled')?.args.charge).toBe(receiptCharge(longer, usage));

    // Settling by time right after the start charges the minimum time and the whole allowance (on a
    // device of the same settings whose slot of now the checkout above does not hold).
    const { rental: next } = await rentDevice(asGuest, await newDevice({ maxWatts: 100 }), 120);
    const byTime = await mined((await asGuest.checkoutByTime(next)).wait());
    expect(findLatchkeyEvent(byTime, 'Settled')?.args.charge).toBe(PRICE * 60n + PRICE_WH * 4n);
  });

  it('refuses a start more than MAX_ADVANCE ahead', async () => {
    const deviceId = await newDevice();
    const horizon = await asGuest.MAX_ADVANCE();
    expect(horizon).toBe(30n * 86_400n);
    // The next block's time is at least the latest one's, so the horizon can only be further away.
    const now = BigInt((await anvil.provider.getBlock('latest'))?.timestamp ?? 0);
    await expectRevert(rentDevice(asGuest, deviceId, 600, { start: now + horizon + 3_600n }), 'InvalidStart');
    const { rental } = await rentDevice(asGuest, deviceId, 600, { start: now + horizon });
    expect(rental.start).toBe(now + horizon);
  });

  it('lets a third party check out by time only after end + grace, charging the booked rent and energy', async () => {
    const deviceId = await newDevice();
    const { rental } = await rentDevice(asGuest, deviceId, 120);
    const [openAt] = await expectRevert(asStranger.checkoutByTime(rental), 'TooEarly');
    expect(openAt).toBe(rental.end + GRACE);

    const now = BigInt((await anvil.provider.getBlock('latest'))?.timestamp ?? 0);
    await anvil.provider.send('evm_increaseTime', [Number(rental.end + GRACE - now)]);
    await anvil.provider.send('evm_mine', []);

    const guestBefore = await balance(guest.address);
    const creditBefore = await asHost.credit(host.address);
    const strangerBefore = await balance(stranger.address);
    const settled = await mined((await asStranger.checkoutByTime(rental)).wait());
    const charge = PRICE * 120n + PRICE_WH * 120n; // the booked time and the whole energy allowance
    expect(findLatchkeyEvent(settled, 'Settled')?.args).toMatchObject({
      charge,
      refund: rental.deposit - charge,
      byReceipt: false,
    });
    expect(await balance(guest.address)).toBe(guestBefore + rental.deposit - charge);
    expect(await asHost.credit(host.address)).toBe(creditBefore + charge);
    expect(await balance(stranger.address)).toBe(strangerBefore - fee(settled));
  });
});
