// A device's name, kept on chain without a contract field: appended to the registerDevice calldata
// after a 4-byte marker. The ABI decoder ignores bytes after the arguments, so the call is unchanged,
// and the name is read back from the registering transaction's input. A device registered any other
// way (a multisig, another tool) simply has no name.

import {
  AbstractSigner,
  concat,
  type Provider,
  type Signer,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
  toUtf8Bytes,
  toUtf8String,
} from 'ethers';
import { latchkeyInterface } from '../../contracts/deploy.js';

/** "LKN1": Latchkey name, version 1. */
const MARKER = '0x4c4b4e31';
export const MAX_NAME_BYTES = 64;

/** Adds a problem unless `name` is a usable device name (printable, at most 64 bytes of UTF-8). */
export function checkName(name: string, flag: string, problems: string[]): void {
  if (name.trim() !== name || name === '')
    problems.push(`${flag}: must not be empty or start/end with spaces`);
  if (toUtf8Bytes(name).length > MAX_NAME_BYTES) problems.push(`${flag}: at most ${MAX_NAME_BYTES} bytes`);
  if (/\p{Cc}/u.test(name)) problems.push(`${flag}: must not contain control characters`);
}

/** The calldata `data` with `name` appended. */
export function tagCalldata(data: string, name: string): string {
  return concat([data, MARKER, toUtf8Bytes(name)]);
}

/** The name tagged onto a registerDevice call, or undefined when `data` is another call or untagged. */
export function nameOfCalldata(data: string): string | undefined {
  let call: ReturnType<typeof latchkeyInterface.parseTransaction>;
  try {
    call = latchkeyInterface.parseTransaction({ data });
  } catch {
    return undefined;
  }
  if (call?.name !== 'registerDevice') return undefined;
  const plain = latchkeyInterface.encodeFunctionData(call.fragment, call.args);
  const tail = `0x${data.slice(plain.length)}`;
  if (!tail.toLowerCase().startsWith(MARKER)) return undefined;
  try {
    return toUtf8String(`0x${tail.slice(MARKER.length)}`);
  } catch {
    return undefined;
  }
}

/** A signer that sends every transaction of `inner` with `name` appended to its calldata. */
export class NameTaggingSigner extends AbstractSigner {
  readonly #inner: Signer;
  readonly #name: string;

  constructor(inner: Signer, name: string) {
    super(inner.provider);
    this.#inner = inner;
    this.#name = name;
  }

  getAddress(): Promise<string> {
    return this.#inner.getAddress();
  }

  connect(provider: Provider | null): Signer {
    return new NameTaggingSigner(this.#inner.connect(provider), this.#name);
  }

  override sendTransaction(tx: TransactionRequest) {
    return this.#inner.sendTransaction({ ...tx, data: tagCalldata(tx.data ?? '0x', this.#name) });
  }

  signTransaction(tx: TransactionRequest): Promise<string> {
    return this.#inner.signTransaction({ ...tx, data: tagCalldata(tx.data ?? '0x', this.#name) });
  }

  signMessage(message: string | Uint8Array): Promise<string> {
    return this.#inner.signMessage(message);
  }

  signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    return this.#inner.signTypedData(domain, types, value);
  }
}
