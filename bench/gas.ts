// Gas of each contract step, measured from real transaction receipts on a fresh anvil, checked against
// the hot-path budgets; writes bench/results/gas.json and exits 1 when a budget is exceeded.
// Run: npm run bench:gas

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ContractTransactionReceipt, keccak256, toUtf8Bytes, Wallet } from 'ethers';
import { startAnvil } from '../contracts/anvil.js';
import { assertContractsBuilt } from '../contracts/buildCheck.js';
import { deployLatchkey, latchkeyAt, mined, registerDevice } from '../contracts/deploy.js';
import {
  addressOfPrivateKey,
  bytesToHex,
  domainSeparator,
  hexToBytes,
  receiptDigest,
  signDigest,
} from '../contracts/eip712.js';
import { latchkeyBuild } from '../contracts/generated/latchkey.js';
import { extendRental, nextStart, rentDevice } from '../contracts/rental.js';
import { domain, type Receipt, type Rental } from '../contracts/typedData.js';

const BUDGET = { rent: 80_000, checkout: 65_000, lifecycle: 140_000 } as const;
const REFERENCES = [
  {
    step: 'Unlock PublicLock v15 purchase + cancelAndRefund',
    gas: 352_000,
    note: 'measured on anvil, not by this bench',
  },
  { step: 'EVM floor (one-slot rent + two-transfer checkout)', gas: 88_000, note: 'estimate' },
] as const;

// The same prices and usage as the forge gas fixture (contracts/test/LatchkeyFixture.sol), so the
// calldata, and with it the gas, is comparable.
const PRICE = 1_000_000_000_000n;
const PRICE_WH = 10_000_000_000_000n;
const HOUR = 3_600;
const GRACE = 3_600n;

/**
 * Version 1 of the contract (append-only bookings, no signer commitment, no energy allowance), measured
 * by this bench at commit 7063ab0: the same steps side by side with today's.
 */
const VERSION_1: Record<string, number> = {
  deploy: 3_021_170,
  'register (first device ever)': 118_202,
  register: 101_102,
  rent: 59_779,
  extend: 42_458,
  'checkout by receipt, steady state': 58_173,
  'checkout by receipt, right after withdraw': 58_173,
  "checkout by receipt, host's first credit ever": 75_179,
  'checkout by time, third party': 45_814,
  withdraw: 34_882,
  'lifecycle: rent + checkout by receipt, steady': 117_952,
  'lifecycle: rent + checkout by receipt, after withdraw': 117_952,
};

interface Row {
  step: string;
  gas: number;
  v1?: number;
  budget?: number;
  within?: boolean;
  note?: string;
}

const gasOf = (r: ContractTransactionReceipt) => Number(r.gasUsed);

async function main(): Promise<number> {
  assertContractsBuilt();
  const anvil = await startAnvil({ quiet: true });
  try {
    const [h, g, k] = anvil.accounts;
    if (!h || !g || !k) throw new Error('anvil reported fewer than 3 dev accounts');
    const host = new Wallet(h.privateKey, anvil.provider);
    const guest = new Wallet(g.privateKey, anvil.provider);
    const keeper = new Wallet(k.privateKey, anvil.provider); // the agent, or anyone else, settling
    const deviceKey = hexToBytes(keccak256(toUtf8Bytes('latchkey bench device key')));

    const deployment = await deployLatchkey(host, { graceSeconds: GRACE });
    const asHost = deployment.contract;
    const asGuest = latchkeyAt(deployment.address, guest);
    const asKeeper = latchkeyAt(deployment.address, keeper);
    const separator = domainSeparator(domain(anvil.chainId, deployment.address));
    const rows: Row[] = [];
    const add = (row: Row) => {
      const v1 = VERSION_1[row.step];
      const withV1 = v1 === undefined ? row : { ...row, v1 };
      rows.push(row.budget === undefined ? withV1 : { ...withV1, within: row.gas <= row.budget });
    };

    const device = {
      signer: addressOfPrivateKey(deviceKey),
      kind: 'socket' as const,
      pricePerSecond: PRICE,
      pricePerWh: PRICE_WH,
      minDuration: 60,
      maxDuration: 7 * 24 * HOUR,
    };
    const first = await registerDevice(asHost, device);
    const { deviceId, receipt: registered } = await registerDevice(asHost, device);
    const checkout = async (rental: Rental) => {
      const usage: Receipt = { rentalId: rental.id, secondsUsed: 1_500n, energyWh: 20n };
      const signature = bytesToHex(signDigest(receiptDigest(separator, usage), deviceKey));
      return mined((await asKeeper.checkout(rental, usage, signature)).wait());
    };
    // Each checkout below comes right after its rent, before the booked end: an early checkout,
    // which also frees the rest of its calendar slots (one more storage write, the dearer path).
    // The checkout's own slot stays held, so each rental starts at the next minute (the device's
    // calendar slot): the clock moves there first, and nextStart guards against anything left.
    const SLOT = 60;
    const WORD = 192 * SLOT; // the time one calendar word covers
    const moveTo = async (align: number) => {
      const head = await anvil.provider.getBlock('latest');
      if (!head) throw new Error('no latest block');
      await anvil.provider.send('evm_setNextBlockTimestamp', [
        Math.ceil((head.timestamp + 1) / align) * align,
      ]);
    };
    const rent = async (duration: number) => {
      await moveTo(SLOT);
      await anvil.provider.send('evm_mine', []);
      return rentDevice(asGuest, deviceId, duration, {
        start: (await nextStart(asGuest, deviceId, duration)) ?? 0n,
      });
    };
    const rentAndCheckout = async () => {
      const { rental, receipt: rented } = await rent(HOUR);
      return { rented, settled: await checkout(rental) };
    };

    // 1. The host's very first credit: its credit slot goes from zero to non-zero, once per host ever.
    // Its rent is the device's first: it writes its calendar word from zero. Started at a word's
    // first slot, so the steady-state rent right after finds the same word in use (non-zero).
    await moveTo(WORD);
    await anvil.provider.send('evm_mine', []);
    const firstEver = await rentAndCheckout();
    // 2. Steady state: the host already holds credit from earlier rentals.
    const steady = await rentAndCheckout();
    // 3. The host withdraws everything; the next checkout is the first credit after a withdrawal (its
    // rent a minute later, in the same calendar word).
    const withdrawn = await mined((await asHost.withdraw()).wait());
    if ((await asHost.credit(host.address)) !== 0n) throw new Error('withdraw left credit behind');
    const afterWithdraw = await rentAndCheckout();
    // 4. Extend, then let the rental run out and a third party settle it by time after end + grace.
    const { rental: short } = await rent(HOUR);
    const { rental: extended, receipt: extendedReceipt } = await extendRental(asGuest, short, HOUR / 2);
    const block = await anvil.provider.getBlock('latest');
    if (!block) throw new Error('no latest block');
    await anvil.provider.send('evm_increaseTime', [Number(extended.end + GRACE) - block.timestamp]);
    await anvil.provider.send('evm_mine', []);
    const byTime = await mined((await asKeeper.checkoutByTime(extended)).wait());

    add({
      step: 'deploy',
      gas: gasOf(deployment.receipt),
      note: `runtime ${latchkeyBuild.deployedSize} bytes`,
    });
    add({ step: 'register (first device ever)', gas: gasOf(first.receipt), note: 'device counter 0 → 1' });
    add({ step: 'register', gas: gasOf(registered) });
    add({
      step: 'rent',
      gas: gasOf(steady.rented),
      budget: BUDGET.rent,
      note: 'steady state: its calendar word was used before (5,000 gas a word)',
    });
    add({
      step: 'rent, first touch of a calendar word',
      gas: gasOf(firstEver.rented),
      note: 'once per ring word of a device (22,100 gas a word): its first 512 × 192 slots of use',
    });
    add({ step: 'extend', gas: gasOf(extendedReceipt) });
    add({
      step: 'checkout by receipt, steady state',
      gas: gasOf(steady.settled),
      budget: BUDGET.checkout,
      note: 'host already holds credit; early, so it also frees the rest of its slots',
    });
    add({
      step: 'checkout by receipt, right after withdraw',
      gas: gasOf(afterWithdraw.settled),
      budget: BUDGET.checkout,
      note: 'first credit after the host withdrew everything; early, frees the rest of its slots',
    });
    add({
      step: "checkout by receipt, host's first credit ever",
      gas: gasOf(firstEver.settled),
      note: 'once per host: its credit slot is written for the first time',
    });
    add({
      step: 'checkout by time, third party',
      gas: gasOf(byTime),
      note: 'after end + grace; booked rent charged',
    });
    add({ step: 'withdraw', gas: gasOf(withdrawn) });
    add({
      step: 'lifecycle: rent + checkout by receipt, steady',
      gas: gasOf(steady.rented) + gasOf(steady.settled),
      budget: BUDGET.lifecycle,
    });
    add({
      step: 'lifecycle: rent + checkout by receipt, after withdraw',
      gas: gasOf(afterWithdraw.rented) + gasOf(afterWithdraw.settled),
      budget: BUDGET.lifecycle,
    });

    printTable(rows);
    const failed = rows.filter((r) => r.within === false);
    const result = {
      date: new Date().toISOString(),
      chain: { node: 'anvil', chainId: anvil.chainId, evmVersion: latchkeyBuild.evmVersion },
      solc: latchkeyBuild.solcVersion,
      optimizer: latchkeyBuild.optimizer,
      viaIR: latchkeyBuild.viaIR,
      sourceHash: latchkeyBuild.sourceHash,
      method: 'gasUsed from transaction receipts (after refunds), one transaction per step, automine',
      budgets: BUDGET,
      steps: rows,
      references: REFERENCES,
      withinBudgets: failed.length === 0,
    };
    const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'gas.json');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
    if (failed.length > 0) {
      console.error(`over budget: ${failed.map((r) => `${r.step} ${r.gas} > ${r.budget}`).join('; ')}`);
      return 1;
    }
    return 0;
  } finally {
    await anvil.stop();
  }
}

function printTable(rows: Row[]): void {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const lines: string[][] = [['step', 'gas', 'version 1', 'budget', 'within?']];
  for (const r of rows) {
    const within = r.within === undefined ? '' : r.within ? 'yes' : 'NO';
    const v1 = r.v1 === undefined ? '' : fmt(r.v1);
    lines.push([r.step, fmt(r.gas), v1, r.budget === undefined ? '' : `≤ ${fmt(r.budget)}`, within]);
  }
  for (const r of REFERENCES) lines.push([`${r.step} (${r.note})`, `≈ ${fmt(r.gas)}`, '', '', '']);
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  const render = (l: string[]) =>
    `| ${l.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const [head, ...body] = lines;
  console.log(
    `Latchkey gas (solc ${latchkeyBuild.solcVersion}, optimizer ${latchkeyBuild.optimizer.enabled ? `runs ${latchkeyBuild.optimizer.runs}` : 'off'}, ${latchkeyBuild.evmVersion})\n`,
  );
  console.log(render(head ?? []));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of body.slice(0, rows.length)) console.log(render(l));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of body.slice(rows.length)) console.log(render(l));
  for (const r of rows) if (r.note) console.log(`  ${r.step}: ${r.note}`);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
