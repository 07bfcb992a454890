// The device key that signs usage receipts (EIP-712, checked by the contract's checkout).

import { addressOfPrivateKey, bytesToHex, receiptDigest, signDigest } from '../../contracts/eip712.js';
import type { Receipt } from '../../contracts/typedData.js';

export class ReceiptSigner {
  /** Lower-case 0x address of the key; must equal the device's `signer` on chain. */
  readonly address: string;
  private readonly privateKey: Uint8Array;
  private readonly separator: Uint8Array;

  constructor(privateKey: Uint8Array, separator: Uint8Array) {
    if (!(privateKey instanceof Uint8Array) || privateKey.length !== 32)
      throw new TypeError('receipt signer: private key must be 32 bytes');
    if (!(separator instanceof Uint8Array) || separator.length !== 32)
      throw new TypeError('receipt signer: domain separator must be 32 bytes');
    this.privateKey = Uint8Array.from(privateKey);
    this.separator = Uint8Array.from(separator);
    this.address = addressOfPrivateKey(this.privateKey);
  }

  /** The 65-byte r ‖ s ‖ v signature over the receipt's EIP-712 digest, as 0x hex. */
  sign(receipt: Receipt): `0x${string}` {
    return bytesToHex(signDigest(receiptDigest(this.separator, receipt), this.privateKey));
  }
}
