// A progress bar on stderr for the long steps (copying an image, packing the agent): redrawn in place
// with a carriage return, at most every 5%, and finished with a newline.

import type { CliIo } from './command.js';

export function progressBar(io: CliIo, label: string): { update(fraction: number): void; done(): void } {
  let shown = -1;
  const draw = (fraction: number) => {
    const pct = Math.min(100, Math.max(0, Math.floor(fraction * 100)));
    if (pct < 100 && pct - shown < 5) return;
    shown = pct;
    const filled = Math.round(pct / 5);
    io.stderr(`\r${label} [${'#'.repeat(filled)}${' '.repeat(20 - filled)}] ${String(pct).padStart(3)}%`);
  };
  draw(0);
  return {
    update: draw,
    done: () => {
      draw(1);
      io.stderr('\n');
    },
  };
}
