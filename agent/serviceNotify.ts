// systemd's notify protocol (sd_notify(3)) for `Type=notify` with `WatchdogSec=`: READY=1 once the
// agent serves, STOPPING=1 when it shuts down, and WATCHDOG=1 from a timer on the event loop at half
// the watchdog interval, so a stalled loop stops the pings and systemd restarts the agent (RELIABILITY
// 27). A datagram to the unix socket in NOTIFY_SOCKET; Node has no unix datagram sockets, so the
// small native `unix-dgram` addon sends it, loaded only when a service manager asks for notifications.

import { createRequire } from 'node:module';
import type { Logger } from './log.js';

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
}

export interface ServiceNotifier {
  ready(): void;
  stopping(): void;
  close(): void;
}

/** The watchdog ping interval asked for by the environment, in ms, or undefined when there is none. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** Starts notifying the service manager named by NOTIFY_SOCKET; undefined when not run as a notify service. */
export function startServiceNotifier(env: NodeJS.ProcessEnv, log: Logger): ServiceNotifier | undefined {
  const path = env.NOTIFY_SOCKET;
  if (!path) return undefined;
  if (path.startsWith('@')) {
    log.warn('NOTIFY_SOCKET is an abstract socket, which is not supported; no readiness or watchdog pings', {
      path,
    });
    return undefined;
  }
  const unix = createRequire(import.meta.url)('unix-dgram') as {
    createSocket(type: 'unix_dgram'): DgramSocket;
  };
  const socket = unix.createSocket('unix_dgram');
  socket.on('error', (e) => log.warn('service notification failed', { error: e }));
  let closed = false;
  const send = (message: string) => {
    if (closed) return;
    const buf = Buffer.from(message);
    socket.send(buf, 0, buf.length, path);
  };
  const interval = watchdogIntervalMs(env);
  const timer = interval === undefined ? undefined : setInterval(() => send('WATCHDOG=1'), interval);
  timer?.unref();
  if (interval !== undefined) log.info('watchdog pings', { everyMs: interval });
  return {
    ready: () => send(`READY=1\nMAINPID=${process.pid}`),
    stopping: () => send('STOPPING=1'),
    close: () => {
      if (timer) clearInterval(timer);
      if (!closed) socket.close();
      closed = true;
    },
  };
}
