// The sticker a guest scans: the QR code of the device's guest URL (made by the `qrcode` library, with
// its quiet zone), the device's name, kind and price, and the URL in text, as SVG in millimetres; and
// the A4 sheets that place several of them for printing. PNGs are these SVGs rendered by resvg.

import { Resvg } from '@resvg/resvg-js';
import QRCode from 'qrcode';

export interface StickerData {
  url: string;
  name: string;
  /** e.g. "lock · 0.01 ETH/hour" */
  detail: string;
}

/** One sticker, in mm. */
export const STICKER = { width: 60, height: 84 } as const;
const A4 = { width: 210, height: 297 } as const;
const SHEET = { columns: 3, rows: 3, gap: 5 } as const;
export const STICKERS_PER_SHEET = SHEET.columns * SHEET.rows;

const escapeXml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );

/** The QR code of `url` as an <svg> element placed at (x, y) with side `size` (mm). */
async function qrElement(url: string, x: number, y: number, size: number): Promise<string> {
  const svg = await QRCode.toString(url, { type: 'svg', margin: 4, errorCorrectionLevel: 'M' });
  const viewBox = /viewBox="([^"]+)"/.exec(svg)?.[1];
  const body = /<svg[^>]*>([\s\S]*)<\/svg>/.exec(svg)?.[1];
  if (!viewBox || body === undefined) throw new Error('qrcode returned an SVG without a viewBox');
  return `<svg x="${x}" y="${y}" width="${size}" height="${size}" viewBox="${viewBox}" shape-rendering="crispEdges">${body}</svg>`;
}

/** The inner elements of one sticker at (x, y). */
async function stickerElements(s: StickerData, x: number, y: number): Promise<string> {
  const w = STICKER.width;
  const cx = x + w / 2;
  const font = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';
  const urlText = s.url.replace(/^https?:\/\//, '');
  return [
    `<rect x="${x + 0.25}" y="${y + 0.25}" width="${w - 0.5}" height="${STICKER.height - 0.5}" rx="3" fill="#fff" stroke="#999" stroke-width="0.5" stroke-dasharray="2 1"/>`,
    `<text x="${cx}" y="${y + 9}" ${font} font-size="5" font-weight="bold" text-anchor="middle">${escapeXml(s.name)}</text>`,
    `<text x="${cx}" y="${y + 15}" ${font} font-size="3.5" text-anchor="middle">${escapeXml(s.detail)}</text>`,
    await qrElement(s.url, x + 5, y + 18, w - 10),
    `<text x="${cx}" y="${y + 75}" ${font} font-size="3.5" font-weight="bold" text-anchor="middle">Scan to rent with your wallet</text>`,
    `<text x="${cx}" y="${y + 80}" ${font} font-size="2.4" text-anchor="middle">${escapeXml(urlText)}</text>`,
  ].join('\n');
}

const document = (width: number, height: number, body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${width}mm" height="${height}mm" viewBox="0 0 ${width} ${height}">\n${body}\n</svg>\n`;

export async function stickerSvg(s: StickerData): Promise<string> {
  return document(STICKER.width, STICKER.height, await stickerElements(s, 0, 0));
}

/** One A4 page of up to STICKERS_PER_SHEET stickers, centred. */
export async function sheetSvg(stickers: readonly StickerData[]): Promise<string> {
  if (stickers.length > STICKERS_PER_SHEET)
    throw new RangeError(`at most ${STICKERS_PER_SHEET} stickers per sheet`);
  const gridW = SHEET.columns * STICKER.width + (SHEET.columns - 1) * SHEET.gap;
  const gridH = SHEET.rows * STICKER.height + (SHEET.rows - 1) * SHEET.gap;
  const x0 = (A4.width - gridW) / 2;
  const y0 = (A4.height - gridH) / 2;
  const parts = await Promise.all(
    stickers.map((s, i) =>
      stickerElements(
        s,
        x0 + (i % SHEET.columns) * (STICKER.width + SHEET.gap),
        y0 + Math.floor(i / SHEET.columns) * (STICKER.height + SHEET.gap),
      ),
    ),
  );
  return document(A4.width, A4.height, parts.join('\n'));
}

/** The SVG as a PNG at `dpi` (print: 300). */
export function svgToPng(svg: string, widthMm: number, dpi = 300): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'width', value: Math.round((widthMm / 25.4) * dpi) },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

export const SHEET_WIDTH_MM = A4.width;
