// Test harness for a real Mosquitto broker: a temp config, a child process on a free port, and a
// restart on the same port for broker-restart tests. Mosquitto is required (apt-get install mosquitto).

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

export interface MosquittoOptions {
  /** The broker binary; default $MOSQUITTO_BIN or /usr/sbin/mosquitto (Debian's package). */
  bin?: string;
  /** TCP port; 0 or absent picks a free one. */
  port?: number;
  /** Also listen for MQTT over WebSocket; 0 picks a free port. Absent: no WebSocket listener. */
  wsPort?: number;
  /** Mosquitto's max_packet_size (bytes); larger packets from clients close their connection. */
  maxPacketBytes?: number;
  /** Lines appended to mosquitto.conf, after the last listener (listener options apply to that one). */
  extraConfig?: string;
  /**
   * A whole Latchkey broker config with its own listeners on `port` (TCP) and `wsPort` (WebSocket), as
   * `latchkey mosquitto-acl` writes it; replaces the open default listeners.
   */
  config?: string;
}

export interface Mosquitto {
  url: string;
  wsUrl?: string;
  port: number;
  /** Everything the broker wrote to stderr (its log), for failure messages. */
  output(): string;
  /**
   * SIGKILL the broker and start it again on the same ports (no persistence: sessions and retained
   * messages are gone). `whileDown` runs between the two, e.g. to act while clients are disconnected.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const bin = options.bin ?? process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';
  if (!existsSync(bin)) {
    throw new Error(
      `Mosquitto is required for these tests but ${bin} does not exist: ` +
        'install it with `apt-get install mosquitto` (or set MOSQUITTO_BIN).',
    );
  }
  const port = options.port || (await freePort());
  const wsPort = options.wsPort === undefined ? undefined : options.wsPort || (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-mosquitto-'));
  const confPath = join(dir, 'mosquitto.conf');
  const lines = [
    ...(options.config === undefined ? ['per_listener_settings false', 'allow_anonymous true'] : []),
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    ...(options.config === undefined ? [`max_packet_size ${options.maxPacketBytes ?? 65536}`] : []),
    // Mosquitto leaves Nagle's algorithm on by default, which adds ~40 ms to a request/reply on loopback.
    'set_tcp_nodelay true',
    // Root would otherwise switch to the `mosquitto` user, which cannot read this temp directory.
    'user root',
  ];
  if (options.config !== undefined) lines.push(options.config.trimEnd());
  else {
    lines.push(`listener ${port} 127.0.0.1`, 'protocol mqtt');
    if (wsPort !== undefined) lines.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets');
  }
  if (options.extraConfig !== undefined) lines.push(options.extraConfig.trimEnd());
  await writeFile(confPath, `${lines.join('\n')}\n`);

  let child: ChildProcess | undefined;
  let log = '';
  const launch = async () => {
    const proc = spawn(bin, ['-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    proc.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    let exited = false;
    proc.once('exit', () => {
      exited = true;
    });
    for (let attempt = 0; attempt < 200; attempt++) {
      if (exited) throw new Error(`mosquitto exited at start (exit ${proc.exitCode}):\n${log}`);
      if ((await canConnect(port)) && (wsPort === undefined || (await canConnect(wsPort)))) return;
      await sleep(25);
    }
    proc.kill('SIGKILL');
    throw new Error(`mosquitto did not accept connections on port ${port}:\n${log}`);
  };
  const kill = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  };

  try {
    await launch();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    ...(wsPort === undefined ? {} : { wsUrl: `ws://127.0.0.1:${wsPort}` }),
    port,
    output: () => log,
    restart: async (whileDown) => {
      await kill('SIGKILL');
      await whileDown?.();
      await launch();
    },
    stop: async () => {
      await kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
