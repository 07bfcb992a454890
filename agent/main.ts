// `npm start`: with LATCHKEY_CONFIG or LATCHKEY_RPC_URLS set, runs the agent against a real chain and
// broker; otherwise the embedded default (local chain, broker, simulated lock and socket) on this machine.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Agent } from './agent.js';
import { loadConfig } from './config.js';
import { LatchkeyError } from './errors.js';
import { createLogger, type Level, redact } from './log.js';
import { startServiceNotifier } from './serviceNotify.js';

// From agent/main.ts (tsx) the page is at ../guest/public; from the build, dist/agent/main.js, two up.
const guestDir = ['../guest/public', '../../guest/public']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((dir) => existsSync(dir));
const level = (process.env.LATCHKEY_LOG_LEVEL as Level | undefined) ?? 'info';
const log = createLogger('latchkey', { level });

// Under systemd (Type=notify): READY=1 once serving, WATCHDOG=1 while the event loop runs.
const service = startServiceNotifier(process.env, log);

/** How to stop what is running; set as soon as there is something to stop (before start finishes). */
let stopRunning: (() => Promise<void>) | undefined;

async function runConfigured(): Promise<void> {
  const config = loadConfig();
  // The keystore is decrypted: its password has no further use, so nothing later (a child process, a
  // dump of process.env) sees it. The initial environment block the kernel keeps is not wiped; the
  // password file (LATCHKEY_KEY_PASSWORD_FILE) avoids the environment altogether.
  delete process.env.LATCHKEY_KEY_PASSWORD;
  const agent = new Agent(config, log, guestDir ? { staticDir: guestDir } : {});
  // Stoppable while it starts: a first backfill can take minutes after downtime, with sockets of live
  // rentals already powered again; SIGTERM then must still drive them safe.
  stopRunning = () => agent.stop();
  await agent.start();
  service?.ready();
}

async function runEmbedded(): Promise<void> {
  // Loaded only here: a configured gateway never pays for aedes, anvil and the deploy code.
  const { embeddedHost, lanAddress, startEmbedded } = await import('./embedded.js');
  const { narrate, qrText, settlementOf } = await import('./terminal.js');
  const { formatEther } = await import('ethers');
  const host = embeddedHost(process.argv.slice(2), lanAddress);
  const lan = host !== '127.0.0.1';
  const e = await startEmbedded({
    log: createLogger('latchkey', { level: process.env.LATCHKEY_LOG_LEVEL ? level : 'warn' }),
    ports: { rpc: 8545, mqtt: 1883, mqttWs: 9001, http: 8080 },
    host,
    devWallet: true,
    ...(guestDir ? { staticDir: guestDir } : {}),
  });
  const guest = e.guests[0];
  const qrs = lan
    ? await Promise.all(
        e.devices.map(
          async (d) =>
            `  ${d.kind} ${d.id}   ${e.httpUrl}/d/${d.id}\n${await qrText(`${e.httpUrl}/d/${d.id}`)}`,
        ),
      )
    : [];
  const lines = [
    '',
    lan
      ? `Latchkey is running on the LAN at ${host} (embedded default): phones on this network open the URLs below.`
      : 'Latchkey is running on this machine (embedded default). On a phone: npm start -- --lan',
    '',
    `  guest page      ${e.httpUrl}/`,
    ...e.devices.map(
      (d) =>
        `  ${d.kind.padEnd(14)}  ${e.httpUrl}/d/${d.id}   device ${d.id}, ${formatEther(d.pricePerSecond * 3600n)} ETH/hour` +
        (d.pricePerWh > 0n ? ` + ${formatEther(d.pricePerWh)} ETH/Wh` : ''),
    ),
    `  health          ${e.httpUrl}/health    metrics ${e.httpUrl}/metrics`,
    `  chain (anvil)   ${e.anvil.url}   chain id ${e.anvil.chainId}`,
    `  contract        ${e.contractAddress}`,
    `  MQTT            ${e.broker.url}   (WebSocket ${e.broker.wsUrl})`,
    ...(e.broker.logins
      ? [
          `  guest login     user ${e.broker.logins.guest.username}, password ${e.broker.logins.guest.password}, client id latchkey-guest-<random>`,
          '                  (replies come on …/reply/<client id>/<n>; the guest page gets this from /api/info)',
        ]
      : []),
    `  topics          ${e.config.mqtt.prefix}/${e.config.gatewayId}/<device>/access | state | reply/<id>`,
    '',
    'Next:',
    '  npm run demo                     a scripted guest rents, unlocks, uses and checks out both devices',
    guest
      ? `  guest test key                   ${guest.privateKey} (${guest.address}, 10000 ETH on this chain)`
      : '',
    '  Ctrl-C                           stops everything',
    '',
    ...qrs,
    'What happens, as it happens:',
  ];
  const stopNarrating = narrate(e.agent, {
    write: (line) => process.stdout.write(`${line}\n`),
    settlement: (rentalId) => settlementOf(e.contract, rentalId),
  });
  stopRunning = async () => {
    stopNarrating();
    await e.stop();
  };
  service?.ready();
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const configured = process.env.LATCHKEY_CONFIG !== undefined || process.env.LATCHKEY_RPC_URLS !== undefined;
  // Handlers first, so a signal or a crash during start-up also drives the relays safe.
  let stopping = false;
  const stopAll = () => stopRunning?.() ?? Promise.resolve();
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    service?.stopping();
    log.info('stopping', { signal });
    stopAll().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error('stop failed', { error: e });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // A bug must not leave a door open: drive every relay safe (bounded in time), then exit non-zero so
  // the supervisor restarts the agent, which boots safe and resumes only live confirmed rentals.
  const crash = (kind: string, e: unknown) => {
    log.error('crashing', { kind, error: e });
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => process.exit(1), 3000);
    timer.unref();
    void stopAll().finally(() => process.exit(1));
  };
  process.on('uncaughtException', (e) => crash('uncaughtException', e));
  process.on('unhandledRejection', (e) => crash('unhandledRejection', e));
  // (A signal during the embedded start finds nothing to stop yet and exits at once: anvil and the
  // broker die with this process.)
  await (configured ? runConfigured() : runEmbedded());
}

main().catch((e: unknown) => {
  const text =
    e instanceof LatchkeyError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.stderr.write(`latchkey: ${redact(text)}\n`);
  process.exit(1);
});
