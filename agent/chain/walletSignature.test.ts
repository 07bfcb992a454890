// A session grant from a smart-contract wallet: a minimal ERC-1271 wallet (test/OwnerWallet.sol) deployed
// on anvil rents a device itself, its owner signs the grant the way such wallets do, and the gate asks
// the wallet on chain. Also the ERC-6492 wrapper unwrapped for a deployed wallet.

import { randomBytes } from 'node:crypto';
import { AbiCoder, ContractFactory, Interface, keccak256 } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  accessDigest,
  bytesToHex,
  domainSeparator,
  hexToBytes,
  sessionDigest,
  signDigest,
} from '../../contracts/eip712.js';
import { rentalFromReceipt } from '../../contracts/rental.js';
import { type Access, domain, type Rental, type Session } from '../../contracts/typedData.js';
import { TrustedClock } from '../access/clock.js';
import { AccessGate } from '../access/gate.js';
import { grantWire, newSessionKey, sessionTokenWire } from '../access/test/session.js';
import { silentLogger } from '../log.js';
import { RpcClient } from './rpc.js';
import { type Chain, DURATION, storeFor, useChain } from './test/chain.js';
import { compileTestContract } from './test/compile.js';
import { unwrapErc6492, walletSigned } from './walletSignature.js';

const WALLET = compileTestContract(
  new URL('./test/OwnerWallet.sol', import.meta.url).pathname,
  'OwnerWallet',
);
const abi = AbiCoder.defaultAbiCoder();

let chain: Chain;
let wallet: string;
let rental: Rental;
let separator: Uint8Array;
const cleanups = useChain(async (c) => {
  chain = c;
  // The wallet's owner is the chain's guest key; the wallet itself rents, so it is the rental's guest.
  const factory = new ContractFactory(WALLET.abi as never, WALLET.bytecode, chain.guest);
  const deployed = await factory.deploy(chain.guest.address, { value: 10n ** 18n });
  await deployed.waitForDeployment();
  wallet = (await deployed.getAddress()).toLowerCase();
  const { deposit: value } = await chain.asGuest.quote(chain.deviceId, DURATION);
  const rent = chain.asGuest.interface.encodeFunctionData('rent', [chain.deviceId, 0n, DURATION]);
  const call = new Interface(WALLET.abi as never).encodeFunctionData('execute', [chain.address, value, rent]);
  const receipt = await (await chain.guest.sendTransaction({ to: wallet, data: call })).wait();
  if (!receipt) throw new Error('rent through the wallet was not mined');
  rental = rentalFromReceipt(receipt, chain.address);
  separator = domainSeparator(domain(BigInt(chain.anvil.chainId), chain.address));
});

/** The owner's signature on the wallet's behalf: over keccak256(abi.encode(wallet, digest)). */
function ownerSigns(digest: Uint8Array, key = chain.guest.privateKey): Uint8Array {
  const walletHash = keccak256(abi.encode(['address', 'bytes32'], [wallet, digest]));
  return signDigest(hexToBytes(walletHash), hexToBytes(key));
}

function wrap6492(signature: Uint8Array): Uint8Array {
  const body = abi.encode(['address', 'bytes', 'bytes'], [wallet, '0x1234', signature]);
  return hexToBytes(`${body}${'6492'.repeat(16)}`);
}

/** A gate over a store holding the wallet's rental, asking `rpc` (default: the test chain) for ERC-1271. */
function gateOver(rpc = new RpcClient({ urls: [chain.anvil.url], log: silentLogger })) {
  const { store } = storeFor(cleanups);
  store.putRental({
    ...rental,
    deviceId: chain.deviceId,
    status: 'open',
    blockNumber: 1,
    blockHash: `0x${'00'.repeat(32)}`,
  });
  const gate = new AccessGate({
    store,
    clock: new TrustedClock(0),
    separator,
    log: silentLogger,
    devices: new Map([[chain.deviceId, { kind: 'socket' as const }]]),
    walletSignature: (account, digest, sig) => walletSigned(rpc, account, digest, sig),
  });
  cleanups.push(() => gate.stop());
  return { gate, store, rpc };
}

describe('ERC-1271 wallet grants', () => {
  it('the rental belongs to the wallet contract, which answers isValidSignature for its owner only', async () => {
    expect(rental.guest.toLowerCase()).toBe(wallet);
    const { rpc } = gateOver();
    const digest = randomBytes(32);
    expect(await walletSigned(rpc, wallet, digest, ownerSigns(digest))).toBe(true);
    expect(await walletSigned(rpc, wallet, digest, ownerSigns(digest, chain.host.privateKey))).toBe(false);
    expect(await walletSigned(rpc, wallet, digest, ownerSigns(randomBytes(32)))).toBe(false);
    // An account without code signs nothing.
    expect(await walletSigned(rpc, chain.host.address, digest, ownerSigns(digest))).toBe(false);
  });

  it('installs the session key from a wallet-signed grant; session tokens then switch the socket', async () => {
    const { gate, store } = gateOver();
    const key = newSessionKey();
    const s: Session = {
      rentalId: rental.id,
      deviceId: chain.deviceId,
      sessionKey: key.publicKey,
      validUntil: rental.end,
    };
    // The owner's plain EIP-712 signature (as an EOA would give) is not the wallet's: refused.
    const bare = signDigest(sessionDigest(separator, s), hexToBytes(chain.guest.privateKey));
    const refused = await gate.submit(chain.deviceId, grantWire(s, bytesToHex(bare)), 'guest');
    expect(refused.ok ? 'granted' : refused.reason).toBe('not-renter');
    // Someone else's key signing as the wallet's owner would: refused.
    const other = ownerSigns(sessionDigest(separator, s), chain.host.privateKey);
    const stranger = await gate.submit(chain.deviceId, grantWire(s, bytesToHex(other)), 'guest');
    expect(stranger.ok ? 'granted' : stranger.reason).toBe('not-renter');

    const ok = await gate.submit(
      chain.deviceId,
      grantWire(s, bytesToHex(ownerSigns(sessionDigest(separator, s)))),
      'guest',
    );
    expect(ok.ok).toBe(true);
    expect(store.getSessionKey(rental.id)?.publicKey).toBe(key.publicKey);

    const now = BigInt(Math.floor(Date.now() / 1000));
    const a: Access = {
      rentalId: rental.id,
      deviceId: chain.deviceId,
      action: 'on',
      nonce: BigInt(bytesToHex(randomBytes(16))),
      validUntil: now + 60n,
    };
    const v = gate.check(chain.deviceId, sessionTokenWire(a, key.sign(a, separator)), 'guest');
    expect(v.ok ? v.grant.scheme : v.reason).toBe('session');
    expect(bytesToHex(accessDigest(separator, a))).toBe(v.ok ? v.grant.digest : '');
  });

  it('unwraps an ERC-6492 signature for the deployed wallet; a broken wrapper is refused', async () => {
    const { gate, rpc } = gateOver();
    const key = newSessionKey();
    const s: Session = {
      rentalId: rental.id,
      deviceId: chain.deviceId,
      sessionKey: key.publicKey,
      validUntil: rental.end,
    };
    const inner = ownerSigns(sessionDigest(separator, s));
    expect(bytesToHex(unwrapErc6492(wrap6492(inner)) ?? new Uint8Array())).toBe(bytesToHex(inner));
    const broken = wrap6492(inner).slice(0, 100);
    const brokenWithSuffix = new Uint8Array([...broken, ...hexToBytes('6492'.repeat(16))]);
    expect(unwrapErc6492(brokenWithSuffix)).toBeUndefined();
    expect(await walletSigned(rpc, wallet, sessionDigest(separator, s), brokenWithSuffix)).toBe(false);
    const ok = await gate.submit(chain.deviceId, grantWire(s, bytesToHex(wrap6492(inner))), 'guest');
    expect(ok.ok).toBe(true);
  });

  it('refuses as unavailable, not as a bad signature, when the chain cannot be asked', async () => {
    const { gate } = gateOver(
      new RpcClient({ urls: ['http://127.0.0.1:9'], timeoutMs: 500, log: silentLogger }),
    );
    const key = newSessionKey();
    const s: Session = {
      rentalId: rental.id,
      deviceId: chain.deviceId,
      sessionKey: key.publicKey,
      validUntil: rental.end,
    };
    const v = await gate.submit(
      chain.deviceId,
      grantWire(s, bytesToHex(ownerSigns(sessionDigest(separator, s)))),
      'g',
    );
    expect(v.ok ? 'granted' : v.reason).toBe('unavailable');
  });
});
