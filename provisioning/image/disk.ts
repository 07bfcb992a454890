// Finds the FAT boot partition of a Raspberry Pi OS disk image by reading its MBR and the partition's
// boot sector, so a wrong file is refused with its reason before anything is copied.

import { closeSync, openSync, readSync } from 'node:fs';

export const SECTOR = 512;
const FAT_TYPES = new Set([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e]);

export interface BootPartition {
  /** Byte offset of the partition in the image (mtools' `@@offset`). */
  offset: number;
  bytes: number;
  fat: 'FAT12/16' | 'FAT32';
}

export class ImageError extends Error {
  override readonly name = 'ImageError';
}

function readAt(file: string, position: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const n = readSync(fd, buf, 0, length, position);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The first partition, checked to be FAT and inside the file; an ImageError says what is wrong. */
export function bootPartition(file: string, fileSize: number): BootPartition {
  const mbr = readAt(file, 0, SECTOR);
  if (mbr.length < SECTOR || mbr.readUInt16LE(510) !== 0xaa55)
    throw new ImageError(`${file} is not a disk image with an MBR partition table (no 0x55AA signature)`);
  const entry = mbr.subarray(446, 462);
  const type = entry[4] ?? 0;
  if (type === 0xee)
    throw new ImageError(`${file} has a GPT partition table; Raspberry Pi OS images use MBR`);
  if (type === 0) throw new ImageError(`${file} has no first partition`);
  if (!FAT_TYPES.has(type))
    throw new ImageError(
      `${file}: the first partition (type 0x${type.toString(16).padStart(2, '0')}) is not a FAT boot partition`,
    );
  const start = entry.readUInt32LE(8);
  const sectors = entry.readUInt32LE(12);
  const offset = start * SECTOR;
  const bytes = sectors * SECTOR;
  if (start === 0 || sectors === 0 || offset + bytes > fileSize)
    throw new ImageError(`${file}: the first partition lies outside the file (truncated image?)`);
  const boot = readAt(file, offset, SECTOR);
  if (boot.length < SECTOR || boot.readUInt16LE(510) !== 0xaa55)
    throw new ImageError(`${file}: the first partition holds no FAT file system (no boot sector)`);
  const fat32 = boot.subarray(82, 90).toString('latin1') === 'FAT32   ';
  const fat16 =
    boot.subarray(54, 59).toString('latin1') === 'FAT16' ||
    boot.subarray(54, 59).toString('latin1') === 'FAT12';
  if (!fat32 && !fat16) throw new ImageError(`${file}: the first partition holds no FAT file system`);
  return { offset, bytes, fat: fat32 ? 'FAT32' : 'FAT12/16' };
}
