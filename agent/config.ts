// The agent's configuration: one schema with defaults, read from an optional JSON file and
// LATCHKEY_* environment overrides, validated once at start with every problem listed at once.

import { readFileSync } from 'node:fs';
import type { KindName } from '../contracts/typedData.js';
import { parseRelayConfig, type RelayConfig } from '../hardware/drivers.js';
import { LatchkeyError } from './errors.js';
import {
  decryptKeystore,
  decryptPreviousKeys,
  type Keystore,
  KeystoreError,
  readKeystoreFile,
  readPreviousKeystores,
  secretFileProblem,
} from './keystore.js';
import type { Level } from './log.js';

export type DeviceKind = KindName;

export interface DeviceConfig {
  /** The on-chain device id (from `registerDevice`). */
  id: bigint;
  kind: DeviceKind;
  /** Locks: how long one unlock keeps the door open. */
  pulseSeconds: number;
  /**
   * Locks: what the lock does without power. `fail-secure` (a strike, a motor lock) stays locked;
   * `fail-safe` (a maglock) opens, so a power cut opens the door whatever the agent does.
   */
  failMode?: FailMode;
  relay: RelayConfig;
}

export type FailMode = 'fail-secure' | 'fail-safe';

export interface AgentConfig {
  gatewayId: string;
  dataDir: string;
  /**
   * 0x-prefixed 32-byte hex private key of the gateway: signs receipts and pays for checkout txs. Given
   * as hex, or decrypted at start from the JSON keystore named by `gatewayKeystore` in the file.
   */
  gatewayKey: string;
  /**
   * The gateway's keys before a rotation (0x hex), from the keystores in `gatewayPreviousKeystores`
   * (same password): kept to sign receipts of rentals made under them.
   */
  previousGatewayKeys?: string[];
  chain: {
    rpcUrls: string[];
    /** When set, the agent refuses to start against a chain with another id. */
    chainId: number | undefined;
    contract: string;
    confirmations: number;
    pollMs: number;
    chunkSize: number;
    startBlock: number;
  };
  mqtt: { url: string; prefix: string; username: string | undefined; password: string | undefined };
  /** `names`: host names the gateway is reached by (Host check); `metricsToken` opens /metrics beyond loopback. */
  http: { host: string; port: number; names: string[]; metricsToken: string | undefined };
  access: { maxValiditySeconds: number };
  devices: DeviceConfig[];
  log: { level: Level };
}

export const DEFAULTS = {
  gatewayId: 'gateway-1',
  dataDir: './data',
  chain: { confirmations: 2, pollMs: 1000, chunkSize: 2000, startBlock: 0 },
  mqtt: { url: 'mqtt://127.0.0.1:1883', prefix: 'latchkey' },
  http: { host: '0.0.0.0', port: 8080 },
  access: { maxValiditySeconds: 300 },
  pulseSeconds: 5,
  log: { level: 'info' as Level },
};

/** Every environment variable the agent reads, with what it sets. Printed in the README. */
export const ENV = {
  LATCHKEY_CONFIG: 'path of a JSON config file (same shape as AgentConfig; bigints as strings)',
  LATCHKEY_GATEWAY_ID: 'gatewayId',
  LATCHKEY_DATA_DIR: 'dataDir',
  LATCHKEY_GATEWAY_KEY: 'gatewayKey (0x + 64 hex)',
  LATCHKEY_GATEWAY_KEYSTORE: 'gatewayKeystore (path of a JSON keystore; instead of gatewayKey)',
  LATCHKEY_KEY_PASSWORD: "the keystore's password",
  LATCHKEY_KEY_PASSWORD_FILE: "gatewayKeyPasswordFile (a file holding the keystore's password)",
  LATCHKEY_RPC_URLS: 'chain.rpcUrls, comma-separated',
  LATCHKEY_CHAIN_ID: 'chain.chainId',
  LATCHKEY_CONTRACT: 'chain.contract',
  LATCHKEY_CONFIRMATIONS: 'chain.confirmations',
  LATCHKEY_POLL_MS: 'chain.pollMs',
  LATCHKEY_MQTT_URL: 'mqtt.url',
  LATCHKEY_MQTT_USERNAME: 'mqtt.username',
  LATCHKEY_MQTT_PASSWORD: 'mqtt.password',
  LATCHKEY_MQTT_PASSWORD_FILE: 'mqtt.passwordFile (a file holding the MQTT password)',
  LATCHKEY_HTTP_HOST: 'http.host',
  LATCHKEY_HTTP_PORT: 'http.port',
  LATCHKEY_LOG_LEVEL: 'log.level (debug | info | warn | error)',
} as const;

type Raw = Record<string, unknown>;

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects problems while reading fields, so the user sees all of them at once. */
class Reader {
  readonly problems: string[] = [];

  string(v: unknown, path: string, fallback?: string): string {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v.length === 0) {
      this.problems.push(`${path}: expected a non-empty string, got ${describe(v)}`);
      return '';
    }
    return v;
  }

  boolean(v: unknown, path: string, fallback: boolean): boolean {
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') {
      this.problems.push(`${path}: expected true or false, got ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  optionalString(v: unknown, path: string): string | undefined {
    return v === undefined ? undefined : this.string(v, path);
  }

  int(v: unknown, path: string, min: number, max: number, fallback?: number): number {
    if (v === undefined && fallback !== undefined) return fallback;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${path}: expected an integer in [${min}, ${max}], got ${describe(v)}`);
      return fallback ?? min;
    }
    return n;
  }

  bigint(v: unknown, path: string): bigint {
    if (
      (typeof v === 'string' && /^[0-9]{1,78}$/.test(v)) ||
      (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)
    ) {
      return BigInt(v);
    }
    this.problems.push(`${path}: expected a non-negative integer (as a decimal string), got ${describe(v)}`);
    return 0n;
  }

  match(v: unknown, path: string, re: RegExp, what: string): string {
    if (typeof v !== 'string' || !re.test(v)) {
      this.problems.push(`${path}: expected ${what}, got ${describe(v)}`);
      return '';
    }
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, options: readonly T[], fallback?: T): T {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
      this.problems.push(`${path}: expected one of ${options.join(', ')}, got ${describe(v)}`);
      return options[0] as T;
    }
    return v as T;
  }

  url(v: unknown, path: string, protocols: string[]): string {
    const s = this.string(v, path);
    if (s === '') return s;
    try {
      const u = new URL(s);
      if (!protocols.includes(u.protocol))
        this.problems.push(`${path}: expected a ${protocols.join(' or ')} URL, got ${s}`);
    } catch {
      this.problems.push(`${path}: not a URL: ${s}`);
    }
    return s;
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const SEGMENT = /^[A-Za-z0-9_.-]{1,64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;
function readDevices(r: Reader, v: unknown): DeviceConfig[] {
  if (!Array.isArray(v)) {
    r.problems.push(`devices: expected a list of devices, got ${describe(v)}`);
    return [];
  }
  const seen = new Set<bigint>();
  return v.map((d, i) => {
    const path = `devices[${i}]`;
    const o = isObject(d) ? d : {};
    if (!isObject(d)) r.problems.push(`${path}: expected an object, got ${describe(d)}`);
    const id = r.bigint(o.id, `${path}.id`);
    if (id === 0n) r.problems.push(`${path}.id: device ids start at 1`);
    if (seen.has(id)) r.problems.push(`${path}.id: device ${id} is listed twice`);
    seen.add(id);
    const device: DeviceConfig = {
      id,
      kind: r.oneOf(o.kind, `${path}.kind`, ['lock', 'socket'] as const),
      pulseSeconds: r.int(o.pulseSeconds, `${path}.pulseSeconds`, 1, 600, DEFAULTS.pulseSeconds),
      relay: parseRelayConfig(o.relay ?? { driver: 'sim' }, `${path}.relay`, r),
    };
    if (o.failMode !== undefined)
      device.failMode = r.oneOf(o.failMode, `${path}.failMode`, ['fail-secure', 'fail-safe'] as const);
    return device;
  });
}

function readNames(r: Reader, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((n) => typeof n === 'string' && /^[A-Za-z0-9.:[\]-]{1,253}$/.test(n))) {
    r.problems.push(`http.names: expected a list of host names or addresses, got ${describe(v)}`);
    return [];
  }
  return v as string[];
}

/** Where the gateway key comes from: hex as given, or a keystore decrypted once the rest is valid. */
type KeySource =
  | { kind: 'hex'; key: string }
  | { kind: 'keystore'; file: string; keystore: Keystore; password: string }
  | undefined;

function readKeySource(r: Reader, f: Raw, env: NodeJS.ProcessEnv): KeySource {
  const hex = env.LATCHKEY_GATEWAY_KEY ?? f.gatewayKey;
  const file = env.LATCHKEY_GATEWAY_KEYSTORE ?? f.gatewayKeystore;
  if (hex !== undefined && file !== undefined) {
    r.problems.push(
      'gatewayKey, gatewayKeystore: give the key one way, not both (LATCHKEY_GATEWAY_KEY, LATCHKEY_GATEWAY_KEYSTORE)',
    );
    return undefined;
  }
  if (file === undefined) {
    if (hex === undefined) {
      r.problems.push(
        'gatewayKey: no gateway key: give gatewayKey, 0x + 64 hex digits (LATCHKEY_GATEWAY_KEY), ' +
          'or gatewayKeystore, a JSON keystore file (LATCHKEY_GATEWAY_KEYSTORE)',
      );
      return undefined;
    }
    if (typeof hex !== 'string' || !PRIVATE_KEY.test(hex)) {
      // never echo what was given: it may be a key with a typo
      const got = typeof hex === 'string' ? `${hex.length} characters` : `a ${typeof hex}`;
      r.problems.push(`gatewayKey: expected 0x + 64 hex digits (LATCHKEY_GATEWAY_KEY), got ${got}`);
      return undefined;
    }
    return { kind: 'hex', key: hex };
  }

  const path = r.string(file, 'gatewayKeystore');
  const password = readKeyPassword(r, f, env);
  if (path === '') return undefined;
  const { keystore, problems } = readKeystoreFile(path, 'gatewayKeystore');
  r.problems.push(...problems);
  if (!keystore) return undefined;
  return password === undefined ? undefined : { kind: 'keystore', file: path, keystore, password };
}

/** The keystore password: LATCHKEY_KEY_PASSWORD, or a file (systemd's LoadCredential= puts one in place). */
function readKeyPassword(r: Reader, f: Raw, env: NodeJS.ProcessEnv): string | undefined {
  const fromEnv = env.LATCHKEY_KEY_PASSWORD;
  const file = env.LATCHKEY_KEY_PASSWORD_FILE ?? f.gatewayKeyPasswordFile;
  const inEnv = fromEnv !== undefined && fromEnv !== '';
  if (inEnv && file !== undefined) {
    r.problems.push(
      'gatewayKeyPasswordFile: the keystore password is given twice, in LATCHKEY_KEY_PASSWORD and in a file; give one',
    );
    return undefined;
  }
  if (inEnv) return fromEnv;
  if (file === undefined) {
    r.problems.push(
      'gatewayKeystore: no password for the keystore: set LATCHKEY_KEY_PASSWORD, or gatewayKeyPasswordFile ' +
        '(LATCHKEY_KEY_PASSWORD_FILE) to a file holding it',
    );
    return undefined;
  }
  return readSecretFile(r, file, 'gatewayKeyPasswordFile');
}

/** A password kept in a file: only its owner may read it; one trailing newline is not part of it. */
function readSecretFile(r: Reader, file: unknown, field: string): string | undefined {
  const path = r.string(file, field);
  if (path === '') return undefined;
  const open = secretFileProblem(path);
  if (open) {
    r.problems.push(`${field}: ${open}`);
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    r.problems.push(`${field}: cannot read ${path} (${errnoOf(e)})`);
    return undefined;
  }
  // `echo secret > file` adds a newline that is not part of the password
  const password = text.replace(/\r?\n$/, '');
  if (password === '') {
    r.problems.push(`${field}: ${path} is empty`);
    return undefined;
  }
  return password;
}

/** The MQTT password: mqtt.password / LATCHKEY_MQTT_PASSWORD, or a file (preferred: not in the environment). */
function readMqttPassword(r: Reader, mqtt: Raw, env: NodeJS.ProcessEnv): string | undefined {
  const given = r.optionalString(env.LATCHKEY_MQTT_PASSWORD ?? mqtt.password, 'mqtt.password');
  const file = env.LATCHKEY_MQTT_PASSWORD_FILE ?? mqtt.passwordFile;
  if (file === undefined) return given;
  if (given !== undefined) {
    r.problems.push(
      'mqtt.passwordFile: the MQTT password is given twice, in mqtt.password (LATCHKEY_MQTT_PASSWORD) and in a file; give one',
    );
    return undefined;
  }
  return readSecretFile(r, file, 'mqtt.passwordFile');
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/**
 * Builds the config from a raw object (a parsed JSON file) and an environment, applying defaults.
 * Throws one LatchkeyError('CONFIG_INVALID') listing every problem.
 */
export function parseConfig(file: unknown, env: NodeJS.ProcessEnv = {}): AgentConfig {
  const r = new Reader();
  const f: Raw = isObject(file) ? file : {};
  if (file !== undefined && !isObject(file)) r.problems.push('config file: expected a JSON object');
  const chain: Raw = isObject(f.chain) ? f.chain : {};
  const mqtt: Raw = isObject(f.mqtt) ? f.mqtt : {};
  const http: Raw = isObject(f.http) ? f.http : {};
  const access: Raw = isObject(f.access) ? f.access : {};
  const log: Raw = isObject(f.log) ? f.log : {};

  const rpcRaw =
    env.LATCHKEY_RPC_URLS !== undefined
      ? env.LATCHKEY_RPC_URLS.split(',').map((s) => s.trim())
      : chain.rpcUrls;
  const rpcUrls = Array.isArray(rpcRaw) && rpcRaw.length > 0 ? rpcRaw : undefined;
  if (!rpcUrls)
    r.problems.push(
      `chain.rpcUrls: expected at least one RPC URL (or LATCHKEY_RPC_URLS), got ${describe(rpcRaw)}`,
    );
  const chainIdRaw = env.LATCHKEY_CHAIN_ID ?? chain.chainId;
  const keySource = readKeySource(r, f, env);

  const config: AgentConfig = {
    gatewayId: r.match(
      env.LATCHKEY_GATEWAY_ID ?? f.gatewayId ?? DEFAULTS.gatewayId,
      'gatewayId',
      SEGMENT,
      'letters, digits, _ . - (1-64)',
    ),
    dataDir: r.string(env.LATCHKEY_DATA_DIR ?? f.dataDir, 'dataDir', DEFAULTS.dataDir),
    gatewayKey: keySource?.kind === 'hex' ? keySource.key : '',
    chain: {
      rpcUrls: (rpcUrls ?? []).map((u, i) => r.url(u, `chain.rpcUrls[${i}]`, ['http:', 'https:'])),
      chainId: chainIdRaw === undefined ? undefined : r.int(chainIdRaw, 'chain.chainId', 1, 2 ** 48),
      contract: r.match(
        env.LATCHKEY_CONTRACT ?? chain.contract,
        'chain.contract',
        ADDRESS,
        'a 0x address (LATCHKEY_CONTRACT)',
      ),
      confirmations: r.int(
        env.LATCHKEY_CONFIRMATIONS ?? chain.confirmations,
        'chain.confirmations',
        0,
        1000,
        DEFAULTS.chain.confirmations,
      ),
      pollMs: r.int(env.LATCHKEY_POLL_MS ?? chain.pollMs, 'chain.pollMs', 50, 600_000, DEFAULTS.chain.pollMs),
      chunkSize: r.int(chain.chunkSize, 'chain.chunkSize', 1, 100_000, DEFAULTS.chain.chunkSize),
      startBlock: r.int(
        chain.startBlock,
        'chain.startBlock',
        0,
        Number.MAX_SAFE_INTEGER,
        DEFAULTS.chain.startBlock,
      ),
    },
    mqtt: {
      url: r.url(env.LATCHKEY_MQTT_URL ?? mqtt.url ?? DEFAULTS.mqtt.url, 'mqtt.url', [
        'mqtt:',
        'mqtts:',
        'ws:',
        'wss:',
      ]),
      prefix: r.match(mqtt.prefix ?? DEFAULTS.mqtt.prefix, 'mqtt.prefix', SEGMENT, 'one topic segment'),
      username: r.optionalString(env.LATCHKEY_MQTT_USERNAME ?? mqtt.username, 'mqtt.username'),
      password: readMqttPassword(r, mqtt, env),
    },
    http: {
      host: r.string(env.LATCHKEY_HTTP_HOST ?? http.host, 'http.host', DEFAULTS.http.host),
      port: r.int(env.LATCHKEY_HTTP_PORT ?? http.port, 'http.port', 0, 65535, DEFAULTS.http.port),
      names: readNames(r, http.names),
      metricsToken: r.optionalString(http.metricsToken, 'http.metricsToken'),
    },
    access: {
      maxValiditySeconds: r.int(
        access.maxValiditySeconds,
        'access.maxValiditySeconds',
        10,
        3600,
        DEFAULTS.access.maxValiditySeconds,
      ),
    },
    devices: readDevices(r, f.devices ?? []),
    log: {
      level: r.oneOf(
        env.LATCHKEY_LOG_LEVEL ?? log.level,
        'log.level',
        ['debug', 'info', 'warn', 'error'] as const,
        DEFAULTS.log.level,
      ),
    },
  };
  if (config.devices.length === 0 && r.problems.length === 0)
    r.problems.push('devices: the gateway drives no device; list at least one');
  // scrypt costs a noticeable fraction of a second: only for a config that is otherwise fine
  if (keySource?.kind === 'keystore' && r.problems.length === 0) {
    try {
      config.gatewayKey = decryptKeystore(keySource.keystore, keySource.password).privateKey;
    } catch (e) {
      const why = e instanceof KeystoreError ? e.message : `cannot decrypt (${errnoOf(e)})`;
      r.problems.push(`gatewayKeystore: ${keySource.file}: ${why}`);
    }
  }
  const previous = readPreviousKeystores(f.gatewayPreviousKeystores);
  r.problems.push(...previous.problems);
  if (previous.keystores.length > 0 && r.problems.length === 0) {
    const password = keySource?.kind === 'keystore' ? keySource.password : readKeyPassword(r, f, env);
    if (password !== undefined) {
      const { keys, problems } = decryptPreviousKeys(previous.keystores, password, config.gatewayKey);
      r.problems.push(...problems);
      config.previousGatewayKeys = keys;
    }
  }
  if (r.problems.length > 0) {
    throw new LatchkeyError(
      'CONFIG_INVALID',
      `invalid configuration (${r.problems.length} problem${r.problems.length > 1 ? 's' : ''})`,
      {
        details: r.problems.map((p) => `  - ${p}`).join('\n'),
      },
    );
  }
  return config;
}

/** Reads LATCHKEY_CONFIG (if set) and the environment. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let file: unknown;
  if (env.LATCHKEY_CONFIG) {
    try {
      file = JSON.parse(readFileSync(env.LATCHKEY_CONFIG, 'utf8'));
    } catch (cause) {
      throw new LatchkeyError('CONFIG_INVALID', `cannot read config file ${env.LATCHKEY_CONFIG}`, {
        cause,
        details: String(cause),
      });
    }
  }
  return parseConfig(file, env);
}
