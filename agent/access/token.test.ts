import { describe, expect, it } from 'vitest';
import { accessDigest, bytesToHex } from '../../contracts/eip712.js';
import { accessFor, LOCK, memoryContext, rentalOf, SEPARATOR, signNoble, wire } from './test/fixtures.js';
import { decodePayload, MAX_TOKEN_BYTES, parseToken } from './token.js';
import { type RejectReason, type Verdict, verifyAccess } from './verify.js';

const a = accessFor(LOCK);
const good = wire(a, signNoble(a), 'r1');
const goodJson = JSON.stringify(good);
const ctx = memoryContext(LOCK, [rentalOf(LOCK)]);

const FUZZ_SEED = 0x1a7c4e7;
/** mulberry32: a small seeded PRNG, so a failing mutant can be found again from the seed. */
function mulberry32(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 2 ** 32;
  };
}
/** What a mutated token may be refused for: its own fields are wrong, never the gateway's state. */
const MUTANT_REFUSALS: RejectReason[] = [
  'malformed',
  'wrong-device',
  'action-not-allowed',
  'expired',
  'validity-too-long',
  'unknown-rental',
  'bad-signature',
  'not-renter',
];

/** A copy of the good token with one path set (or deleted when value is undefined). */
function withField(path: string[], value: unknown): Record<string, unknown> {
  const copy = JSON.parse(goodJson) as Record<string, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = path.at(-1) as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

function malformed(payload: unknown): string {
  const v: Verdict = verifyAccess(payload, ctx);
  if (v.ok) throw new Error(`accepted: ${JSON.stringify(payload)?.slice(0, 200)}`);
  expect(v.reason, v.message).toBe('malformed');
  return v.message;
}

describe('token wire format', () => {
  it('the good token parses to exact bigints', () => {
    const p = parseToken(good);
    expect(p).toEqual({
      ok: true,
      value: { access: a, scheme: 'wallet', signature: good.signature, requestId: 'r1' },
    });
    expect(verifyAccess(goodJson, ctx).ok).toBe(true);
  });

  it('refuses payloads over 4 KiB before parsing them, in every form', () => {
    const padded = `${goodJson}${' '.repeat(MAX_TOKEN_BYTES)}`;
    expect(malformed(padded)).toMatch(/limit is 4096/);
    expect(malformed(Buffer.from(padded))).toMatch(/limit is 4096/);
    // 2000 three-byte characters: under 4096 UTF-16 units, over 4096 UTF-8 bytes.
    expect(malformed(`"${'€'.repeat(2000)}"`)).toMatch(/limit is 4096/);
    expect(malformed('x'.repeat(50 * 1024 * 1024))).toMatch(/limit is 4096/);
    expect(verifyAccess(`${goodJson}${' '.repeat(MAX_TOKEN_BYTES - goodJson.length)}`, ctx).ok).toBe(true);
  });

  it('refuses truncated JSON, invalid UTF-8 and non-objects', () => {
    for (let cut = 0; cut < goodJson.length; cut += 7) malformed(goodJson.slice(0, cut));
    malformed(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    for (const v of [null, undefined, 42, true, [], [good], 'null', '"token"', '[]', new Map(), new Date()])
      malformed(v);
    expect(decodePayload('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
  });

  it('refuses unknown and missing fields at both levels', () => {
    expect(malformed(withField(['extra'], 1))).toMatch(/unknown field "extra" in token/);
    expect(malformed(withField(['access', 'device'], '1'))).toMatch(/unknown field "device" in access/);
    // JSON.parse makes "__proto__" an own key (it does not set the prototype): still an unknown field.
    expect(malformed(goodJson.replace('"access":{', '"access":{"__proto__":{},'))).toMatch(
      /unknown field "__proto__"/,
    );
    // An object with a foreign prototype is not a plain JSON object.
    expect(malformed(withField(['access', '__proto__'], { rentalId: '1' }))).toMatch(
      /access must be a plain object/,
    );
    for (const key of ['rentalId', 'deviceId', 'action', 'nonce', 'validUntil'])
      expect(malformed(withField(['access', key], undefined))).toMatch(new RegExp(`${key} is missing`));
    malformed(withField(['signature'], undefined));
    malformed(withField(['access'], undefined));
    malformed(JSON.parse('{"__proto__":{"x":1},"access":{},"signature":"0x"}'));
  });

  it('refuses numbers that are not canonical decimal strings within uint256', () => {
    const max = ((1n << 256n) - 1n).toString();
    expect(parseToken(withField(['access', 'nonce'], max)).ok).toBe(true);
    for (const bad of [
      (1n << 256n).toString(),
      `${max}0`,
      '-1',
      '+1',
      '01',
      '1.0',
      '1e3',
      '0x10',
      ' 1',
      '',
      '１',
      12,
      1.5,
      null,
      {},
    ])
      malformed(withField(['access', 'nonce'], bad));
    for (const field of ['rentalId', 'deviceId'] as const) malformed(withField(['access', field], 1));
  });

  it('refuses a validUntil that is not a whole non-negative safe integer', () => {
    for (const bad of [1.5, -1, '1800000100', 2 ** 53, Number.NaN, null, Number.POSITIVE_INFINITY])
      malformed(withField(['access', 'validUntil'], bad));
  });

  it('refuses unknown actions, bad signatures and bad request ids', () => {
    for (const bad of ['UNLOCK', 'open', '', 1, null]) malformed(withField(['access', 'action'], bad));
    const sig = good.signature as string;
    for (const bad of [
      `${sig.slice(0, -1)}g`,
      sig.slice(0, -2),
      `${sig}0`,
      `0X${sig.slice(2)}`,
      12,
      null,
      '',
    ])
      malformed(withField(['signature'], bad));
    for (const bad of ['', 'x'.repeat(65), 'a/b/c', '/a', 'a/', 'a+b', 'a#', 'a b', 7, null])
      expect(malformed(withField(['id'], bad))).toMatch(/^id must be/);
    expect(parseToken(withField(['id'], 'x'.repeat(64))).ok).toBe(true);
  });

  it('refuses a good token with any field replaced by a wrong type or value', () => {
    const replacements: unknown[] = [
      null,
      true,
      0,
      -0,
      1e308,
      -1,
      0.5,
      '',
      'x',
      [],
      {},
      [1],
      '0x',
      'NaN',
      '9'.repeat(200),
    ];
    const paths = [
      ['access'],
      ['signature'],
      ['id'],
      ['access', 'rentalId'],
      ['access', 'deviceId'],
      ['access', 'action'],
      ['access', 'nonce'],
      ['access', 'validUntil'],
    ];
    for (const path of paths)
      for (const value of replacements) {
        if (path[0] === 'id' && typeof value === 'string' && /^[\w.:-]{1,64}$/.test(value)) continue;
        const v = verifyAccess(withField(path, value), ctx);
        expect(v.ok, `${path.join('.')} = ${JSON.stringify(value)}`).toBe(false);
      }
  });

  it(`refuses random mutations of a good token or random bytes, or accepts only what means the same token (seed ${FUZZ_SEED})`, () => {
    // A token of its own with a fixed nonce: with the fixed seed, every run sees the same mutants.
    const fa = accessFor(LOCK, { nonce: 0x5eedn });
    const fuzzJson = JSON.stringify(wire(fa, signNoble(fa), 'r1'));
    const fuzzSig = signNoble(fa).toLowerCase();
    const next = mulberry32(FUZZ_SEED);
    const below = (n: number) => Math.floor(next() * n);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(fuzzJson);
      // Overwrite 1-4 random bytes of the good token, or its start with pure noise.
      if (i % 10 === 0) for (let k = below(200); k > 0; k--) bytes[k - 1] = below(256);
      else for (let k = 0; k <= i % 4; k++) bytes[below(bytes.length)] = below(256);
      const payload = i % 2 === 0 ? bytes : bytes.toString('latin1');
      const why = `seed ${FUZZ_SEED}, mutant ${i}: ${bytes.toString('latin1')}`;
      const v = verifyAccess(payload, ctx);
      const outcome = v.ok ? 'accepted' : v.reason;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (!v.ok) {
        expect(MUTANT_REFUSALS, why).toContain(v.reason);
        expect(v.message, why).toMatch(/\S/);
        continue;
      }
      // Accepted: only a change that keeps the meaning (a request id, the case of a hex digit).
      const decoded = decodePayload(payload);
      const parsed = decoded.ok ? parseToken(decoded.value) : decoded;
      expect(parsed.ok, why).toBe(true);
      if (!parsed.ok) continue;
      expect(parsed.value.access, why).toEqual(fa);
      expect(parsed.value.signature.toLowerCase(), why).toBe(fuzzSig);
      expect(v.grant.digest, why).toBe(bytesToHex(accessDigest(SEPARATOR, fa)));
    }
    // This seed's mutants reach past the parser into the signature check, and some are accepted.
    expect(outcomes['not-renter'], JSON.stringify(outcomes)).toBeGreaterThan(0);
    expect(outcomes.accepted, JSON.stringify(outcomes)).toBeGreaterThan(0);
  });
});
