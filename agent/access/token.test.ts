import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { accessFor, LOCK, memoryContext, rentalOf, signNoble, wire } from './test/fixtures.js';
import { decodePayload, MAX_TOKEN_BYTES, parseToken } from './token.js';
import { type Verdict, verifyAccess } from './verify.js';

const a = accessFor(LOCK);
const good = wire(a, signNoble(a), 'r1');
const goodJson = JSON.stringify(good);
const ctx = memoryContext(LOCK, [rentalOf(LOCK)]);

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
    expect(p).toEqual({ ok: true, value: { access: a, signature: good.signature, requestId: 'r1' } });
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
    for (const bad of ['', 'x'.repeat(65), 'a/b', 'a+b', 'a#', 'a b', 7, null])
      expect(malformed(withField(['id'], bad))).toMatch(/^id must be/);
    expect(parseToken(withField(['id'], 'x'.repeat(64))).ok).toBe(true);
  });

  it('never throws on random mutations of a good token or on random bytes', () => {
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
    let checked = 0;
    for (const path of paths)
      for (const value of replacements) {
        if (path[0] === 'id' && typeof value === 'string' && /^[\w.:-]{1,64}$/.test(value)) continue;
        const v = verifyAccess(withField(path, value), ctx);
        expect(v.ok).toBe(false);
        checked++;
      }
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(goodJson);
      // Flip 1-4 random bytes of the good token, or send pure noise.
      if (i % 10 === 0) randomBytes(Math.floor(Math.random() * 200)).copy(bytes);
      else
        for (let k = 0; k <= i % 4; k++)
          bytes[Math.floor(Math.random() * bytes.length)] = Math.floor(Math.random() * 256);
      const v = verifyAccess(i % 2 === 0 ? bytes : bytes.toString('latin1'), ctx);
      // A flip inside a hex digit can keep the token well-formed: then the signature check refuses it.
      if (!v.ok) expect(typeof v.message).toBe('string');
      checked++;
    }
    expect(checked).toBeGreaterThan(2000);
  });
});
