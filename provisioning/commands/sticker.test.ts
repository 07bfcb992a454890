// Stickers made from a real chain's devices; the QR code is read back from the PNG pixels with jsQR.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Anvil, startAnvil } from '../../contracts/anvil.js';
import { cli, problems, tempDir } from '../testCli.js';

let anvil: Anvil;
let tmp: ReturnType<typeof tempDir>;
let chain: string[];

beforeAll(async () => {
  anvil = await startAnvil({ quiet: true });
  tmp = tempDir();
  const host = { LATCHKEY_HOST_KEY: anvil.accounts[0]?.privateKey };
  const d = await cli(['deploy', '--rpc', anvil.url], host);
  chain = ['--rpc', anvil.url, '--contract', d.fields.contract as string];
  const signer = anvil.accounts[1]?.address as string;
  for (const [kind, name] of [
    ['lock', 'Front door'],
    ['socket', 'Kettle <2kW> & co'],
  ] as const) {
    const r = await cli(
      ['register', ...chain, '--signer', signer, '--kind', kind, '--price-per-hour', '0.036', '--name', name],
      host,
    );
    expect(r.code, r.stderr).toBe(0);
  }
}, 60_000);
afterAll(async () => {
  await anvil?.stop();
  tmp?.remove();
});

// jsqr is CommonJS with a default export in its types: under NodeNext the function is `.default`
type Decode = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const jsQR = ((jsQRModule as unknown as { default?: Decode }).default ?? jsQRModule) as Decode;

/** The QR code in a PNG file, or in the part of it given in mm (x, y, width, height). */
function decode(file: string, mm?: [number, number, number, number]): string | undefined {
  const png = PNG.sync.read(readFileSync(file));
  if (!mm) return jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data;
  const scale = png.width / 210;
  const [x, y, w, h] = mm.map((v) => Math.round(v * scale)) as [number, number, number, number];
  const part = new Uint8ClampedArray(w * h * 4);
  for (let row = 0; row < h; row++)
    part.set(
      png.data.subarray(((y + row) * png.width + x) * 4, ((y + row) * png.width + x + w) * 4),
      row * w * 4,
    );
  return jsQR(part, w, h)?.data;
}

describe('latchkey sticker', () => {
  it('writes SVG and PNG stickers and an A4 sheet whose QR codes hold the guest URLs', {
    timeout: 60_000,
  }, async () => {
    const out = tmp.path('stickers');
    const r = await cli(
      [
        'sticker',
        ...chain,
        '--device',
        '1',
        '--device',
        '2',
        '--base-url',
        'https://rent.example/',
        '--out',
        out,
        '--json',
      ],
      {},
    );
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'sheet-1.png',
      'sheet-1.svg',
      'sticker-1.png',
      'sticker-1.svg',
      'sticker-2.png',
      'sticker-2.svg',
    ]);
    expect(decode(`${out}/sticker-1.png`)).toBe('https://rent.example/d/1');
    expect(decode(`${out}/sticker-2.png`)).toBe('https://rent.example/d/2');
    const png = PNG.sync.read(readFileSync(`${out}/sticker-1.png`));
    expect(png.width).toBe(Math.round((60 / 25.4) * 300));
    const svg = readFileSync(`${out}/sticker-2.svg`, 'utf8');
    expect(svg).toContain('width="60mm"');
    expect(svg).toContain('Kettle &lt;2kW&gt; &amp; co');
    expect(svg).toContain('socket · 0.036 ETH/hour');
    const sheet = readFileSync(`${out}/sheet-1.svg`, 'utf8');
    expect(sheet).toContain('width="210mm" height="297mm"');
    expect(sheet).toContain('Front door');
    // 3 × 3 stickers of 60 × 84 mm, 5 mm apart, centred on A4: the first two sit side by side at the top
    expect(decode(`${out}/sheet-1.png`, [10, 17.5, 60, 84])).toBe('https://rent.example/d/1');
    expect(decode(`${out}/sheet-1.png`, [75, 17.5, 60, 84])).toBe('https://rent.example/d/2');
  });

  it('refuses an unknown device or existing files, writing nothing', async () => {
    const out = tmp.path('bad');
    const r = await cli(
      ['sticker', ...chain, '--device', '7', '--base-url', 'https://rent.example', '--out', out],
      {},
    );
    expect(r.code).toBe(2);
    expect(problems(r.stderr)).toEqual([`--device: no device 7 on contract ${chain[3]}`]);
    expect(existsSync(out)).toBe(false);

    const first = await cli(
      ['sticker', ...chain, '--device', '1', '--base-url', 'https://x.example', '--out', out],
      {},
    );
    expect(first.code, first.stderr).toBe(0);
    const again = await cli(
      ['sticker', ...chain, '--device', '1', '--base-url', 'https://y.example', '--out', out],
      {},
    );
    expect(again.code).toBe(2);
    expect(problems(again.stderr)[0]).toMatch(/sticker-1\.svg already exists/);
    expect(decode(`${out}/sticker-1.png`)).toBe('https://x.example/d/1');
  });
});
