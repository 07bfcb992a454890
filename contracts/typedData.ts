// The EIP-712 domain and types shared by access tokens and session grants (checked by the agent) and
// usage receipts (checked by the contract). Everything that signs or verifies imports them from here.

/** Contract name and version in the EIP-712 domain; must match the Solidity EIP712 constructor. */
export const DOMAIN_NAME = 'Latchkey';
export const DOMAIN_VERSION = '1';

export interface Domain {
  name: string;
  version: string;
  chainId: bigint;
  verifyingContract: `0x${string}`;
}

export function domain(chainId: bigint | number, verifyingContract: string): Domain {
  return {
    name: DOMAIN_NAME,
    version: DOMAIN_VERSION,
    chainId: BigInt(chainId),
    verifyingContract: verifyingContract as `0x${string}`,
  };
}

/** What a guest may ask a device to do. Locks: unlock/lock; sockets: on/off; both: checkout. */
export const ACTIONS = ['unlock', 'lock', 'on', 'off', 'checkout'] as const;
export type Action = (typeof ACTIONS)[number];

/** A device's kind as the agent's config, topics and controllers name it. */
export type KindName = 'lock' | 'socket';

/** What each kind of device may be asked to do. */
export const KIND_ACTIONS: Readonly<Record<KindName, readonly Action[]>> = {
  lock: ['unlock', 'lock', 'checkout'],
  socket: ['on', 'off', 'checkout'],
};

/** The guest's signed request to act on a device it has rented. */
export interface Access {
  rentalId: bigint;
  deviceId: bigint;
  action: Action;
  /** Random per token; a token is accepted once. */
  nonce: bigint;
  /** Unix seconds after which the token is refused; kept short (minutes). */
  validUntil: bigint;
}

/**
 * The guest wallet's one signature per rental: it lets `sessionKey` (a P-256 key the guest's browser
 * holds) sign Access-shaped tokens for this rental until `validUntil` (at most the rental's end). A new
 * grant for the rental replaces the previous key (that is how a guest revokes one).
 */
export interface Session {
  rentalId: bigint;
  deviceId: bigint;
  /** The session key's public point, SEC1 uncompressed (0x04 ‖ x ‖ y, 65 bytes), as WebCrypto exports it. */
  sessionKey: `0x${string}`;
  /** Unix seconds after which the session key is refused; at most the rental's end. */
  validUntil: bigint;
}

/** The device's signed usage report, submitted to `checkout`. */
export interface Receipt {
  rentalId: bigint;
  secondsUsed: bigint;
  energyWh: bigint;
}

/** One field of an EIP-712 struct type. */
export interface TypedField {
  name: string;
  type: string;
}

// Type lists without EIP712Domain, as ethers' signTypedData/verifyTypedData want them.
export const ACCESS_TYPES: { Access: TypedField[] } = {
  Access: [
    { name: 'rentalId', type: 'uint256' },
    { name: 'deviceId', type: 'uint256' },
    { name: 'action', type: 'string' },
    { name: 'nonce', type: 'uint256' },
    { name: 'validUntil', type: 'uint64' },
  ],
};

export const SESSION_TYPES: { Session: TypedField[] } = {
  Session: [
    { name: 'rentalId', type: 'uint256' },
    { name: 'deviceId', type: 'uint256' },
    { name: 'sessionKey', type: 'bytes' },
    { name: 'validUntil', type: 'uint64' },
  ],
};

export const RECEIPT_TYPES: { Receipt: TypedField[] } = {
  Receipt: [
    { name: 'rentalId', type: 'uint256' },
    { name: 'secondsUsed', type: 'uint64' },
    { name: 'energyWh', type: 'uint64' },
  ],
};

export const EIP712_DOMAIN_TYPE: TypedField[] = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'verifyingContract', type: 'address' },
];

/** The rental as committed on chain (see ILatchkey.Rental); rebuilt from Rented/Extended logs. */
export interface Rental {
  id: bigint;
  guest: string;
  start: bigint;
  end: bigint;
  deposit: bigint;
  pricePerSecond: bigint;
  pricePerWh: bigint;
  /** The device's signer at rent time: the only key whose receipt settles this rental. */
  signer: string;
  /** The device's max power at rent time, in watts: the energy allowance is maxWatts × duration. */
  maxWatts: bigint;
  /**
   * The device's cancel window at rent time, in seconds: cancelling at least this long before the start
   * is free, later it costs a fee growing linearly to the booked rent at the start.
   */
  cancelWindow: bigint;
}

/**
 * Exactly the fields the contract commits to (its hash is what is stored on chain), from anything that
 * carries them (a stored rental, a plan): the struct to pass back to the contract.
 */
export function committedRental(r: Rental): Rental {
  return {
    id: r.id,
    guest: r.guest,
    start: r.start,
    end: r.end,
    deposit: r.deposit,
    pricePerSecond: r.pricePerSecond,
    pricePerWh: r.pricePerWh,
    signer: r.signer,
    maxWatts: r.maxWatts,
    cancelWindow: r.cancelWindow,
  };
}

/** What renting a device for a duration costs at today's prices (ILatchkey.Quote): what a guest page shows. */
export interface Quote {
  /** Wei to pay with `rent`, held until settlement; also the most any settlement can charge. */
  deposit: bigint;
  /** The worst case the guest can be charged: the deposit. */
  maxCharge: bigint;
  /** pricePerSecond × duration. */
  rent: bigint;
  /** The energy allowance the deposit prepays, in watt-hours. */
  energyWh: bigint;
  /** pricePerWh × energyWh, part of the deposit. */
  energyCost: bigint;
}

/** The device id of a rental: rental ids are `deviceId << 64 | sequence`. */
export function deviceOf(rentalId: bigint): bigint {
  return rentalId >> 64n;
}

export const DeviceKind = { Lock: 0, Socket: 1 } as const;
export type DeviceKind = (typeof DeviceKind)[keyof typeof DeviceKind];
