// Reads a secret from the terminal without echoing it: raw mode, so the characters never reach the
// screen (or a terminal log), with backspace and Ctrl-U editing and Ctrl-C / Ctrl-D to give up.

import type { ReadStream } from 'node:tty';
import { UsageError } from './command.js';

export function askHidden(
  question: string,
  input: ReadStream,
  output: NodeJS.WritableStream,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const wasRaw = input.isRaw;
    let answer = '';
    const finish = (error?: Error) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(answer);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || (ch === '\u0004' && answer === ''))
          return finish(new UsageError(['cancelled at the password prompt']));
        if (ch === '\u007f' || ch === '\b') answer = [...answer].slice(0, -1).join('');
        else if (ch === '\u0015') answer = '';
        else if (ch >= ' ') answer += ch;
      }
    };
    // raw mode before the prompt shows, so nothing typed in answer to it can be echoed
    input.setRawMode(true);
    output.write(question);
    input.on('data', onData);
    input.resume();
  });
}
