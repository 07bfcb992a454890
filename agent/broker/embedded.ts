// The embedded MQTT broker (aedes, MQTT 3.1.1) over TCP and WebSocket, for `npm start` and tests;
// real deployments point the agent at Mosquitto or EMQX instead.

import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Logger } from '../log.js';
import { limitFrames, PacketTooLargeError } from './frameLimit.js';

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** WebSocket port; 0 (default) picks a free one. */
  wsPort?: number;
  /** Interface to listen on; default 127.0.0.1 (use 0.0.0.0 to serve phones on the LAN). */
  host?: string;
  /** Largest MQTT packet a client may send, in bytes; larger ones close its connection. Default 64 KiB. */
  maxPacketBytes?: number;
  log: Logger;
}

export interface EmbeddedBroker {
  url: string;
  wsUrl: string;
  stop(): Promise<void>;
}

const DEFAULT_MAX_PACKET_BYTES = 64 * 1024;

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
  const log = options.log.child('broker');
  const aedes = await Aedes.createBroker({ drainTimeout: 30_000 });
  // Connections that never finish CONNECT are not in aedes' client list, so stop() closes them itself.
  const connections = new Set<Duplex>();

  aedes.on('clientError', (client, error) => {
    log.debug('client error', { clientId: client.id, error: error.message });
  });
  aedes.on('connectionError', (_client, error) => log.debug('connection error', { error: error.message }));

  const accept = (connection: Duplex, kind: 'tcp' | 'ws') => {
    connections.add(connection);
    connection.once('close', () => connections.delete(connection));
    const guarded = limitFrames(connection, maxPacketBytes);
    guarded.once('error', (error) => {
      if (error instanceof PacketTooLargeError)
        log.warn('oversized packet refused', { kind, size: error.size });
    });
    aedes.handle(guarded);
  };

  const tcp = createServer({ noDelay: true }, (socket) => accept(socket, 'tcp'));
  const http = createHttpServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n');
  });
  const wss = new WebSocketServer({
    server: http,
    maxPayload: maxPacketBytes,
    handleProtocols: (protocols) =>
      protocols.has('mqtt') ? 'mqtt' : (protocols.values().next().value ?? false),
  });
  wss.on('connection', (ws) => {
    const stream = createWebSocketStream(ws);
    stream.on('error', () => {}); // a client vanishing mid-frame is routine
    accept(stream, 'ws');
  });

  try {
    await listen(tcp, options.port ?? 0, host);
    await listen(http, options.wsPort ?? 0, host);
  } catch (error) {
    await closeAll();
    throw error;
  }
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `mqtt://${shownHost}:${(tcp.address() as AddressInfo).port}`;
  const wsUrl = `ws://${shownHost}:${(http.address() as AddressInfo).port}`;
  log.info('embedded broker listening', { url, wsUrl });

  let stopped: Promise<void> | undefined;
  async function closeAll(): Promise<void> {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const ws of wss.clients) ws.terminate();
    for (const connection of connections) connection.destroy();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    http.closeAllConnections();
    await Promise.all([closeServer(tcp), closeServer(http)]);
  }
  return {
    url,
    wsUrl,
    stop: () => {
      stopped ??= closeAll().then(() => log.info('embedded broker stopped'));
      return stopped;
    },
  };
}

async function listen(server: Server | ReturnType<typeof createHttpServer>, port: number, host: string) {
  server.listen(port, host);
  await once(server, 'listening');
}

function closeServer(server: Server | ReturnType<typeof createHttpServer>): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}
