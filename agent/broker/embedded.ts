// The embedded MQTT broker (aedes, MQTT 3.1.1) over TCP and WebSocket, for `npm start` and tests;
// real deployments point the agent at Mosquitto or EMQX instead.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Logger } from '../log.js';
import { Topics } from '../mqtt/topics.js';
import { limitFrames, PacketTooLargeError } from './frameLimit.js';
import {
  brokerRules,
  CLIENT_ID_PREFIX,
  filterWithin,
  isGuestClientId,
  MAX_GUEST_PAYLOAD_BYTES,
  type Role,
  ruleTopic,
} from './rules.js';

/** Who may log in to the embedded broker. */
export interface BrokerLogins {
  prefix: string;
  /** Each gateway logs in with its gateway id as user name and must use the client id latchkey-<id>. */
  gateways: { gatewayId: string; password: string }[];
  /** The one login of every guest; its client id must be latchkey-guest-<unique>. */
  guest: { username: string; password: string };
}

/** Logins for one gateway and the guests, with fresh random passwords. */
export function freshLogins(gatewayId: string, prefix = 'latchkey'): BrokerLogins {
  const secret = () => randomBytes(12).toString('base64url');
  return {
    prefix,
    gateways: [{ gatewayId, password: secret() }],
    guest: { username: 'guest', password: secret() },
  };
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** WebSocket port; 0 (default) picks a free one. */
  wsPort?: number;
  /** Interface to listen on; default 127.0.0.1 (use 0.0.0.0 to serve phones on the LAN). */
  host?: string;
  /** Largest MQTT packet a client may send, in bytes; larger ones close its connection. Default 64 KiB. */
  maxPacketBytes?: number;
  /** Logins and their rules; default freshLogins('gateway-1'). `false`: an open broker, loopback only. */
  logins?: BrokerLogins | false;
  log: Logger;
}

export interface EmbeddedBroker {
  url: string;
  wsUrl: string;
  /** The logins it accepts; false for an open broker. */
  logins: BrokerLogins | false;
  stop(): Promise<void>;
}

const DEFAULT_MAX_PACKET_BYTES = 64 * 1024;

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
  const log = options.log.child('broker');
  const logins = options.logins ?? freshLogins('gateway-1');
  if (logins === false && !LOOPBACK_HOSTS.has(host))
    throw new Error(`the embedded broker does not listen on ${host} without logins: give it logins`);
  const aedes = await Aedes.createBroker({ drainTimeout: 30_000, ...(logins ? guard(logins, log) : {}) });
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
    logins,
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

type Identity = { role: Role; gatewayId?: string; clientId: string };

const equal = (a: Buffer, b: string) => {
  const expected = Buffer.from(b);
  return a.length === expected.length && timingSafeEqual(a, expected);
};

function refusal(returnCode: 2 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

type Hooks = Required<Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>>;

/** aedes' authenticate / authorizePublish / authorizeSubscribe hooks for the logins and rules. */
function guard(logins: BrokerLogins, log: Logger): Hooks {
  const topics = new Topics(logins.prefix);
  const rules = brokerRules(logins.prefix);
  const who = new WeakMap<Client, Identity>();
  const gatewayIds = new Set(logins.gateways.map((g) => g.gatewayId));
  const gatewayClientIds = new Set(logins.gateways.map((g) => `${CLIENT_ID_PREFIX}${g.gatewayId}`));
  const connected = new Set<string>();
  const allowed = (id: Identity, access: 'read' | 'write'): string[] =>
    rules
      .filter((r) => r.role === id.role && r.access === access)
      .flatMap((r) =>
        id.role === 'guest' && r.topic.includes('{gateway}')
          ? [...gatewayIds].map((gatewayId) => ruleTopic(r, { gatewayId, clientId: id.clientId }))
          : [ruleTopic(r, id)],
      )
      .filter((t): t is string => t !== undefined);

  return {
    authenticate(client, username, password, done) {
      const pass = Buffer.from(password ?? Buffer.alloc(0));
      const gateway = logins.gateways.find((g) => g.gatewayId === username);
      let identity: Identity | undefined;
      if (gateway && equal(pass, gateway.password)) {
        if (client.id !== `${CLIENT_ID_PREFIX}${gateway.gatewayId}`)
          return done(
            refusal(2, `gateway ${gateway.gatewayId} must use client id latchkey-${gateway.gatewayId}`),
            null,
          );
        identity = { role: 'gateway', gatewayId: gateway.gatewayId, clientId: client.id };
      } else if (username === logins.guest.username && equal(pass, logins.guest.password)) {
        // A guest neither takes a gateway's client id nor displaces a connected guest.
        if (!isGuestClientId(client.id) || gatewayClientIds.has(client.id) || connected.has(client.id))
          return done(refusal(2, 'guest client id refused'), null);
        identity = { role: 'guest', clientId: client.id };
      } else {
        return done(refusal(username === undefined ? 5 : 4, 'bad user name or password'), null);
      }
      who.set(client, identity);
      if (identity.role === 'guest') {
        connected.add(client.id);
        client.once('close', () => connected.delete(client.id));
      }
      done(null, true);
    },

    authorizePublish(client, packet, done) {
      if (!client) return done(null); // the broker's own messages
      const id = who.get(client);
      const size = Buffer.byteLength(packet.payload);
      const fits = id && allowed(id, 'write').some((t) => filterWithin(packet.topic, t));
      let ok = fits === true;
      if (ok && id?.role === 'guest') ok = !packet.retain && size <= MAX_GUEST_PAYLOAD_BYTES;
      // A gateway writes to its access topics only to clear a retained token.
      if (ok && id?.role === 'gateway' && topics.parse(packet.topic)?.kind === 'access')
        ok = packet.retain && size === 0;
      if (ok) return done(null);
      log.warn('publish refused; client disconnected', {
        clientId: client.id,
        topic: packet.topic.slice(0, 200),
      });
      done(new Error('publish not authorised'));
    },

    authorizeSubscribe(client, sub, done) {
      const id = client ? who.get(client) : undefined;
      const ok = id !== undefined && allowed(id, 'read').some((t) => filterWithin(sub.topic, t));
      done(null, ok ? sub : null);
    },
  };
}
