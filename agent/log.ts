// A small structured logger with namespaces (latchkey:chain, latchkey:mqtt, ...): JSON lines when
// not on a terminal (systemd/journald), readable lines on a terminal. Injected, never global.

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(namespace: string): Logger;
}

export interface LogOptions {
  level?: Level;
  json?: boolean;
  write?: (line: string) => void;
}

// scheme://[userinfo@]host[:port][path][?query][#fragment], up to whitespace or a quote.
const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)(?:[^\s/?#"'<>@]*@)?([^\s/?#"'<>\\]+)([^\s"'<>\\]*)/gi;

/**
 * Every URL in `text` without its credentials, path and query (which carry passwords and API keys):
 * `mqtt://gw:secret@broker:1883` → `mqtt://broker:1883`, `https://rpc.example/v3/KEY` →
 * `https://rpc.example/…`. The logger applies it to every line it writes.
 */
export function redact(text: string): string {
  return text.replace(URL_IN_TEXT, (_url, scheme: string, host: string, rest: string) =>
    rest === '' || rest === '/' ? `${scheme}${host}${rest}` : `${scheme}${host}/…`,
  );
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

export function createLogger(namespace = 'latchkey', options: LogOptions = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const json = options.json ?? !process.stderr.isTTY;
  const sink = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const write = (line: string) => sink(redact(line));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < min) return;
    if (json) {
      write(JSON.stringify({ t: new Date().toISOString(), level, ns: namespace, msg, ...fields }, replacer));
    } else {
      const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields, replacer)}` : '';
      write(`${level.padEnd(5)} ${namespace} ${msg}${extra}`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (ns) => createLogger(`${namespace}:${ns}`, options),
  };
}

/** A logger that drops everything (tests that do not care about logs). */
export const silentLogger: Logger = createLogger('latchkey', { level: 'error', write: () => {} });
