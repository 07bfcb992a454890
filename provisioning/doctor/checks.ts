// The gateway health checks `latchkey doctor` runs, each giving a verdict and, when it fails, the fix.

import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type JsonRpcProvider, Wallet } from 'ethers';
import mqtt from 'mqtt';
import type { AgentConfig } from '../../agent/config.js';
import { latchkeyAt } from '../../contracts/deploy.js';
import { checkoutCost } from '../chain/checkoutCost.js';
import { eth } from '../price.js';
import { connect } from '../rpc.js';

export type Verdict = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}

const ok = (name: string, detail: string): Check => ({ name, verdict: 'ok', detail });
const fail = (name: string, detail: string, fix: string): Check => ({ name, verdict: 'fail', detail, fix });
const warn = (name: string, detail: string, fix: string): Check => ({ name, verdict: 'warn', detail, fix });
const skip = (name: string, detail: string): Check => ({ name, verdict: 'skip', detail });

const TIMEOUT_MS = 10_000;
/** The agent trusts its clock only within 5 min behind and 15 min ahead of the chain. */
const CLOCK_BEHIND_S = 300;
const CLOCK_AHEAD_S = 900;
const MIN_FREE_BYTES = 200 * 1024 * 1024;

async function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: no answer in ${TIMEOUT_MS / 1000} s`)),
          TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const short = (e: unknown) =>
  e instanceof Error
    ? (((e as { shortMessage?: string }).shortMessage ?? e.message).split('\n')[0] ?? '')
    : String(e);

export function clockSync(): Check {
  const name = 'clock synchronised';
  const r = spawnSync('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return skip(name, 'timedatectl is not available here (no systemd)');
  return r.stdout.trim() === 'yes'
    ? ok(name, 'NTP synchronised (timedatectl)')
    : fail(
        name,
        'the system clock is not NTP-synchronised',
        'sudo timedatectl set-ntp true; check that UDP 123 reaches a time server',
      );
}

/** Every RPC: reachable, the expected chain, the contract's code; then the clock against the chain. */
export async function chainChecks(
  c: AgentConfig,
  now = Date.now(),
): Promise<{ checks: Check[]; provider?: JsonRpcProvider }> {
  const checks: Check[] = [];
  let good: JsonRpcProvider | undefined;
  let expected = c.chain.chainId;
  for (const url of c.chain.rpcUrls) {
    const name = `RPC ${url}`;
    let provider: JsonRpcProvider;
    try {
      provider = await connect(url);
    } catch (e) {
      checks.push(
        fail(
          name,
          `unreachable: ${short(e)}`,
          'check the URL, the network and the node; the agent tries the next URL meanwhile',
        ),
      );
      continue;
    }
    try {
      const id = Number((await provider.getNetwork()).chainId);
      if (expected !== undefined && id !== expected) {
        checks.push(
          fail(
            name,
            `chain id ${id}, the config expects ${expected}`,
            'point chain.rpcUrls at a node of the right chain, or fix chain.chainId',
          ),
        );
        provider.destroy();
        continue;
      }
      expected ??= id;
      if ((await withTimeout(provider.getCode(c.chain.contract), url)) === '0x') {
        checks.push(
          fail(
            name,
            `chain ${id} has no contract at ${c.chain.contract}`,
            'check chain.contract (from latchkey deploy) and the chain',
          ),
        );
        provider.destroy();
        continue;
      }
      checks.push(ok(name, `chain ${id}, contract code present`));
      if (!good) {
        good = provider;
        continue;
      }
    } catch (e) {
      checks.push(fail(name, `failed: ${short(e)}`, 'check the node'));
    }
    provider.destroy();
  }
  if (good) {
    const block = await good.getBlock('latest');
    const drift = Math.round(now / 1000) - (block?.timestamp ?? 0);
    const name = 'clock against the chain';
    if (drift < -CLOCK_BEHIND_S)
      checks.push(
        fail(
          name,
          `${-drift} s behind the latest block`,
          'sync the clock (timedatectl set-ntp true); the agent grants nothing meanwhile',
        ),
      );
    else if (drift > CLOCK_AHEAD_S)
      checks.push(
        fail(
          name,
          `${drift} s ahead of the latest block`,
          'sync the clock, or the node is stalled: check its head',
        ),
      );
    else
      checks.push(ok(name, `${drift >= 0 ? `${drift} s ahead of` : `${-drift} s behind`} the latest block`));
  }
  return good ? { checks, provider: good } : { checks };
}

/** The gateway key can pay for checkouts; the configured devices are on chain, of their kind, signed by it. */
export async function gatewayChecks(c: AgentConfig, provider: JsonRpcProvider): Promise<Check[]> {
  const checks: Check[] = [];
  const gateway = new Wallet(c.gatewayKey).address;
  const [balance, cost] = await Promise.all([provider.getBalance(gateway), checkoutCost(provider)]);
  const name = 'gateway key funds';
  if (balance < cost)
    checks.push(
      fail(
        name,
        `${gateway} holds ${eth(balance)}; one checkout costs about ${eth(cost)}`,
        `send at least ${eth(cost * 20n)} to ${gateway} (latchkey fund, or any wallet): guests' refunds wait for these transactions`,
      ),
    );
  else if (balance < cost * 10n)
    checks.push(
      warn(
        name,
        `${gateway} holds ${eth(balance)}: fewer than 10 checkouts (${eth(cost)} each)`,
        `top it up: send ${eth(cost * 20n)} to ${gateway}`,
      ),
    );
  else
    checks.push(
      ok(name, `${gateway} holds ${eth(balance)} (≈${balance / (cost === 0n ? 1n : cost)} checkouts)`),
    );
  const latchkey = latchkeyAt(c.chain.contract, provider);
  for (const d of c.devices) {
    const dn = `device ${d.id} (${d.kind})`;
    try {
      const onChain = await latchkey.device(d.id);
      const kind = onChain.kind === 0n ? 'lock' : 'socket';
      if (kind !== d.kind)
        checks.push(
          fail(dn, `registered as a ${kind}`, `set its kind to ${kind} in the config (devices[].kind)`),
        );
      else if (onChain.signer !== gateway)
        checks.push(
          fail(
            dn,
            `its receipt signer is ${onChain.signer}, not this gateway's key ${gateway}`,
            `latchkey device update --id ${d.id} --signer ${gateway}, or remove it from this gateway's config`,
          ),
        );
      else
        checks.push(
          ok(
            dn,
            onChain.active
              ? 'on chain, signed by this gateway, active'
              : 'on chain, signed by this gateway, closed to new rentals',
          ),
        );
    } catch {
      checks.push(
        fail(
          dn,
          `no device ${d.id} on contract ${c.chain.contract}`,
          'use the id latchkey register printed, or remove the device from the config',
        ),
      );
    }
  }
  return checks;
}

/** Logs in as the gateway; may publish under its own prefix, may not under another gateway's. */
export async function brokerChecks(c: AgentConfig): Promise<Check[]> {
  const name = `broker ${c.mqtt.url}`;
  let client: mqtt.MqttClient;
  try {
    client = await withTimeout(
      mqtt.connectAsync(c.mqtt.url, {
        protocolVersion: 5,
        reconnectPeriod: 0,
        connectTimeout: TIMEOUT_MS,
        clientId: `latchkey-${c.gatewayId}-doctor-${process.pid}`,
        ...(c.mqtt.username === undefined ? {} : { username: c.mqtt.username }),
        ...(c.mqtt.password === undefined ? {} : { password: c.mqtt.password }),
      }),
      name,
    );
  } catch (e) {
    const why = short(e);
    const fix = /auth|password|username/i.test(why)
      ? 'set mqtt.username (the gateway id) and mqtt.password from latchkey mosquitto-acl'
      : 'a broker must run and be reachable: apt-get install mosquitto (see latchkey mosquitto-acl), or fix mqtt.url';
    return [fail(name, `cannot log in: ${why}`, fix)];
  }
  const checks: Check[] = [
    ok(name, `logged in${c.mqtt.username ? ` as ${c.mqtt.username}` : ' anonymously'}`),
  ];
  const publish = async (topic: string): Promise<'accepted' | 'refused'> => {
    try {
      const packet = (await withTimeout(client.publishAsync(topic, 'doctor', { qos: 1 }), topic)) as
        | { reasonCode?: number }
        | undefined;
      return (packet?.reasonCode ?? 0) >= 0x80 ? 'refused' : 'accepted';
    } catch (e) {
      return /not authori[sz]ed|0x87|135/i.test(short(e)) ? 'refused' : Promise.reject(e);
    }
  };
  try {
    const own = await publish(`${c.mqtt.prefix}/${c.gatewayId}/doctor/reply/doctor-${process.pid}`);
    checks.push(
      own === 'accepted'
        ? ok('broker ACL: own topics', `may publish under ${c.mqtt.prefix}/${c.gatewayId}/`)
        : fail(
            'broker ACL: own topics',
            `may not publish under ${c.mqtt.prefix}/${c.gatewayId}/`,
            'the ACL must grant pattern write latchkey/%u/... (latchkey mosquitto-acl); mqtt.username must be the gateway id',
          ),
    );
    const other = await publish(`${c.mqtt.prefix}/${c.gatewayId}-not-me/doctor/reply/doctor-${process.pid}`);
    checks.push(
      other === 'refused'
        ? ok("broker ACL: others' topics", "may not publish under another gateway's prefix")
        : fail(
            "broker ACL: others' topics",
            "may publish under another gateway's prefix: any gateway can fake another's state",
            'install the ACL from latchkey mosquitto-acl (allow_anonymous false, acl_file)',
          ),
    );
  } catch (e) {
    checks.push(fail('broker ACL', `publishing failed: ${short(e)}`, 'check the broker log'));
  } finally {
    await client.endAsync(true);
  }
  return checks;
}

/** The keystore and the config: readable by this user, by nobody else. */
export function fileChecks(
  c: AgentConfig,
  configFile: string | undefined,
  keystore: string | undefined,
): Check[] {
  const checks: Check[] = [];
  for (const [what, file] of [
    ['keystore', keystore],
    ['config', configFile],
  ] as const) {
    if (!file) continue;
    const st = statSync(file);
    const name = `${what} ${file}`;
    const others = st.mode & 0o077;
    if (others !== 0)
      checks.push(
        fail(name, `mode ${(st.mode & 0o777).toString(8)}: readable by others`, `chmod 600 ${file}`),
      );
    else if (typeof process.getuid === 'function' && st.uid !== process.getuid())
      checks.push(
        warn(
          name,
          `owned by uid ${st.uid}, not by this user (uid ${process.getuid()})`,
          `run doctor as the agent's user (sudo -u latchkey latchkey doctor), or chown it`,
        ),
      );
    else checks.push(ok(name, `mode ${(st.mode & 0o777).toString(8)}, owned by this user`));
  }
  const data = resolve(c.dataDir);
  const probe = existsSync(data) ? data : dirname(data);
  try {
    accessSync(probe, constants.W_OK);
    const fs = statfsSync(probe);
    const free = fs.bavail * fs.bsize;
    checks.push(
      free < MIN_FREE_BYTES
        ? fail(
            `disk space ${probe}`,
            `${Math.round(free / 2 ** 20)} MiB free`,
            'free some space: the store needs room to record rentals and audits',
          )
        : ok(`disk space ${probe}`, `${Math.round(free / 2 ** 20)} MiB free`),
    );
  } catch (e) {
    checks.push(
      fail(
        `data dir ${data}`,
        `not writable by this user (${(e as NodeJS.ErrnoException).code})`,
        `create it for the agent's user: install -d -m 0700 -o latchkey ${data}`,
      ),
    );
  }
  return checks;
}

/** GPIO and serial access for the devices that need them. */
export function hardwareChecks(c: AgentConfig): Check[] {
  const checks: Check[] = [];
  for (const d of c.devices) {
    const relay = d.relay;
    const name = `device ${d.id} hardware (${relay.driver})`;
    let paths: string[] = [];
    if (relay.driver === 'gpio') {
      // The gpio driver works through sysfs (onoff): exporting a line is what needs the gpio group.
      if (!existsSync('/sys/class/gpio/export')) {
        checks.push(
          fail(
            name,
            'no /sys/class/gpio here',
            'run on the Raspberry Pi that drives the relay (a kernel with CONFIG_GPIO_SYSFS)',
          ),
        );
        continue;
      }
      paths = ['/sys/class/gpio/export'];
    } else if (relay.driver === 'firmata' && 'serial' in relay.link) paths = [relay.link.serial];
    else continue;
    const denied = paths.filter((p) => {
      try {
        accessSync(p, constants.R_OK | constants.W_OK);
        return false;
      } catch {
        return true;
      }
    });
    if (denied.length === 0) checks.push(ok(name, `read/write ${paths.join(', ')}`));
    else
      checks.push(
        fail(
          name,
          `no read/write access to ${denied.join(', ')}`,
          `add the agent's user to the ${relay.driver === 'gpio' ? 'gpio' : 'dialout'} group: sudo usermod -aG ${relay.driver === 'gpio' ? 'gpio' : 'dialout'} latchkey`,
        ),
      );
  }
  return checks;
}

export function serviceCheck(unit = 'latchkey.service'): Check {
  const name = `service ${unit}`;
  const r = spawnSync('systemctl', ['is-active', unit], { encoding: 'utf8' });
  if (r.error) return skip(name, 'systemctl is not available here');
  const state = r.stdout.trim();
  if (state === 'active') return ok(name, 'active');
  return fail(
    name,
    state || 'unknown',
    `sudo systemctl enable --now ${unit}; journalctl -u ${unit} -n 50 says why it stopped`,
  );
}
