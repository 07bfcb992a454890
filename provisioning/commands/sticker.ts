// `latchkey sticker`: print-ready stickers for devices: the QR code of each device's guest page URL
// with its name, kind and price from the chain, as SVG and PNG, and A4 sheets of them.

import { join, resolve } from 'node:path';
import { hostDevices } from '../chain/history.js';
import { CHAIN_FLAGS, chainArgs, JSON_FLAG, openChain, toJson } from '../chainFlags.js';
import { httpUrl, integer } from '../checks.js';
import { type Command, UsageError } from '../command.js';
import { parseFlags, renderHelp } from '../flags.js';
import { checkOutputs, writeOutputs } from '../outputFiles.js';
import { eth } from '../price.js';
import {
  SHEET_WIDTH_MM,
  STICKER,
  STICKERS_PER_SHEET,
  type StickerData,
  sheetSvg,
  stickerSvg,
  svgToPng,
} from '../sticker/layout.js';

const FLAGS = {
  ...CHAIN_FLAGS,
  device: {
    type: 'string',
    multiple: true,
    required: true,
    value: '<id>',
    help: 'a device; repeat for several',
  },
  'base-url': {
    type: 'string',
    required: true,
    value: '<url>',
    help: "the guest page's address (https://…); a device's page is <url>/d/<id>",
  },
  out: { type: 'string', required: true, value: '<dir>', help: 'folder for the SVG and PNG files (created)' },
  force: { type: 'boolean', help: 'replace sticker files that exist' },
  ...JSON_FLAG,
} as const;

/** The guest page URL of a device: what its QR code holds. */
export function guestUrl(base: string, id: bigint): string {
  return `${base.replace(/\/+$/, '')}/d/${id}`;
}

export const sticker: Command = {
  name: 'sticker',
  summary: "QR stickers (SVG, PNG, A4 sheets) of devices' guest page URLs",
  help: () =>
    renderHelp(
      'latchkey sticker --rpc <url> --contract <address> --device <id> ... --base-url <url> --out <dir>',
      'Writes sticker-<id>.svg and .png (60 × 84 mm, PNG at 300 dpi) for each device: its name, kind and\n' +
        `price as the chain has them, and the QR code of <base-url>/d/<id>; and sheet-<n>.svg/.png, A4 pages\n` +
        `of ${STICKERS_PER_SHEET}. Print at 100% (no "fit to page"). Files are written only once all are made.`,
      FLAGS,
    ),
  async run(argv, io) {
    const { values, problems: p } = parseFlags(argv, FLAGS);
    const args = chainArgs(values, p);
    const base = httpUrl(values['base-url'], '--base-url', p);
    const ids = (values.device ?? []).map((d) => integer(d, '--device', 1, Number.MAX_SAFE_INTEGER, p));
    if (new Set(values.device).size !== (values.device ?? []).length)
      p.push('--device: a device is given twice');
    const out = values.out ? resolve(values.out) : '';
    const wanted = ids.filter((n): n is number => n !== undefined).map(BigInt);
    const sheets = Math.ceil(wanted.length / STICKERS_PER_SHEET);
    const names = [
      ...wanted.flatMap((id) => [`sticker-${id}.svg`, `sticker-${id}.png`]),
      ...Array.from({ length: sheets }, (_, i) => [`sheet-${i + 1}.svg`, `sheet-${i + 1}.png`]).flat(),
    ].map((n) => join(out, n));
    if (out) checkOutputs(names, '--out', p, values.force === true);
    if (p.length > 0 || base === undefined) throw new UsageError(p);
    if (base.startsWith('http://'))
      io.stderr('warning: --base-url is http://; a phone wallet may refuse to open it. Prefer https://\n');

    const provider = await openChain(args);
    let data: (StickerData & { id: bigint })[];
    try {
      const devices = await hostDevices(provider, args.contract, undefined, {
        fromBlock: args.fromBlock,
        chunkBlocks: args.chunkBlocks,
      });
      const missing = wanted.filter((id) => !devices.some((d) => d.id === id));
      if (missing.length > 0)
        throw new UsageError(missing.map((id) => `--device: no device ${id} on contract ${args.contract}`));
      data = wanted.map((id) => {
        const d = devices.find((x) => x.id === id) as (typeof devices)[number];
        const price = `${eth(d.pricePerSecond * 3600n)}/hour${d.pricePerWh > 0n ? ` + ${eth(d.pricePerWh)}/Wh` : ''}`;
        return {
          id,
          url: guestUrl(base, id),
          name: d.name ?? `${d.kind} ${id}`,
          detail: `${d.kind} · ${price}`,
        };
      });
    } finally {
      provider.destroy();
    }

    const files = new Map<string, string | Buffer>();
    for (const s of data) {
      const svg = await stickerSvg(s);
      files.set(join(out, `sticker-${s.id}.svg`), svg);
      files.set(join(out, `sticker-${s.id}.png`), svgToPng(svg, STICKER.width));
    }
    for (let i = 0; i < sheets; i++) {
      const svg = await sheetSvg(data.slice(i * STICKERS_PER_SHEET, (i + 1) * STICKERS_PER_SHEET));
      files.set(join(out, `sheet-${i + 1}.svg`), svg);
      files.set(join(out, `sheet-${i + 1}.png`), svgToPng(svg, SHEET_WIDTH_MM));
    }
    writeOutputs(files);
    if (values.json)
      io.stdout(
        toJson({
          stickers: data.map((s) => ({ device: s.id, url: s.url, name: s.name })),
          files: [...files.keys()],
        }),
      );
    else
      io.stdout(
        [
          ...data.map((s) => `device ${s.id}: ${s.url}\n`),
          ...[...files.keys()].map((f) => `file: ${f}\n`),
        ].join(''),
      );
  },
};
