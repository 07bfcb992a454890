// The invalid-token flood of the unlock benchmark, as a child process so its CPU is not the agent's:
// publishes `rate` bad tokens per second for `durationMs` to one access topic over loopback MQTT, every
// message with its own request id (its own source at the agent), in a bounded loop; a second connection
// counts the agent's replies to them, so the agent's pace is seen without asking the (busy) agent.
// Driven over IPC: parent sends FloodPlan, child answers 'ready'; parent sends 'go'; child sends
// {type:'published'} when the last token is out and a FloodReport once the replies stop (or maxDrainMs).

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { hexToBytes } from '../../contracts/eip712.js';
import {
  FLOOD_MIX,
  type FloodKind,
  type FloodMix,
  type FloodPlan,
  type FloodReport,
  SESSION_FLOOD_MIX,
} from './floodPlan.js';
import { randomNonce, requestId, sessionKeyPair, signSessionToken, signToken } from './tokens.js';

const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

function build(plan: FloodPlan): (kind: FloodKind, id: string) => string {
  const separator = hexToBytes(plan.separator);
  const wrongKey = hexToBytes(plan.wrongKey);
  const rentalId = BigInt(plan.rentalId);
  const now = Math.floor(Date.now() / 1000);
  const validUntil = now + 240;
  // A few hundred distinct signed bodies; each message still differs by its id, so the agent's
  // redelivery filter passes every one and every wrong-signer token costs a full recovery.
  const wrong = Array.from({ length: 256 }, () =>
    signToken(separator, wrongKey, { rentalId, action: plan.action, nonce: randomNonce(), validUntil }),
  );
  const unknown = Array.from({ length: 64 }, () =>
    signToken(separator, wrongKey, {
      rentalId: (rentalId & ~0xffffffffffffffffn) | 0xfffffffffn,
      action: plan.action,
      nonce: randomNonce(),
      validUntil,
    }),
  );
  const expired = Array.from({ length: 64 }, () =>
    signToken(separator, wrongKey, {
      rentalId,
      action: plan.action,
      nonce: randomNonce(),
      validUntil: now - 3600,
    }),
  );
  const forger = sessionKeyPair();
  const forged =
    plan.scheme === 'session'
      ? Array.from({ length: 256 }, () =>
          signSessionToken(separator, forger, {
            rentalId,
            action: plan.action,
            nonce: randomNonce(),
            validUntil,
          }),
        )
      : [];
  let i = 0;
  const pick = <T>(list: T[]): T => list[i++ % list.length] as T;
  return (kind, id) => {
    switch (kind) {
      case 'forged-session':
        return JSON.stringify({ ...pick(forged), id });
      case 'wrong-signer':
        return JSON.stringify({ ...pick(wrong), id });
      case 'unknown-rental':
        return JSON.stringify({ ...pick(unknown), id });
      case 'expired':
        return JSON.stringify({ ...pick(expired), id });
      case 'garbage-signature': {
        const r = BigInt(`0x${randomBytes(32).toString('hex')}`) % HALF_N;
        const s = BigInt(`0x${randomBytes(32).toString('hex')}`) % HALF_N;
        const signature = `0x${r.toString(16).padStart(64, '0')}${s.toString(16).padStart(64, '0')}1b`;
        return JSON.stringify({ ...pick(wrong), signature, id });
      }
      case 'bad-shape':
        return JSON.stringify({ id, access: 42, signature: '0x00' });
      case 'not-json':
        return randomBytes(48).toString('base64');
    }
  };
}

/** Deterministic interleaving of the mix: kind of the n-th message. */
function kindAt(mix: FloodMix, n: number): FloodKind {
  const x = (n * 0.6180339887498949) % 1; // golden-ratio sequence: well spread, no clumps
  let acc = 0;
  for (const m of mix) {
    acc += m.share;
    if (x < acc) return m.kind;
  }
  return mix[0].kind;
}

async function run(plan: FloodPlan, send: (m: unknown) => void, waitGo: Promise<void>): Promise<void> {
  const payloadOf = build(plan);
  const mix: FloodMix = plan.scheme === 'session' ? SESSION_FLOOD_MIX : FLOOD_MIX;
  const options = { protocolVersion: 4 as const, reconnectPeriod: 0 };
  const client = await mqtt.connectAsync(plan.url, {
    ...options,
    clientId: `flood-${randomBytes(4).toString('hex')}`,
  });
  const observer = await mqtt.connectAsync(plan.url, {
    ...options,
    clientId: `flood-replies-${randomBytes(4).toString('hex')}`,
  });
  // Ids of flood tokens not answered yet; replies to anything else (the valid tokens) are not counted.
  const waiting = new Set<string>();
  const perSecond: number[] = [];
  let t0 = 0;
  let replies = 0;
  let lastReplyAt = 0;
  observer.on('message', (topic) => {
    if (!waiting.delete(topic.slice(topic.lastIndexOf('/') + 1))) return;
    replies++;
    lastReplyAt = performance.now();
    const second = Math.floor((lastReplyAt - t0) / 1000);
    perSecond[second] = (perSecond[second] ?? 0) + 1;
  });
  await observer.subscribeAsync(`${plan.topic.slice(0, -'/access'.length)}/reply/+`, { qos: 0 });
  send('ready');
  await waitGo;
  const total = Math.round((plan.rate * plan.durationMs) / 1000);
  const byKind: Record<string, number> = {};
  let sent = 0;
  let maxBacklog = 0;
  t0 = performance.now();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * plan.rate));
    maxBacklog = Math.max(maxBacklog, due - sent);
    while (sent < due) {
      const kind = kindAt(mix, sent);
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      const id = requestId();
      if (kind !== 'not-json') waiting.add(id);
      client.publish(plan.topic, payloadOf(kind, id), { qos: 0 });
      sent++;
    }
    await sleep(2);
  }
  const elapsedMs = performance.now() - t0;
  const repliesDuringFlood = replies;
  send({ type: 'published', sent });
  // Replies still coming: the agent works off its backlog (replies may also arrive in bursts, held up
  // behind it). Stop when every token is answered or at the bound.
  const end = performance.now();
  while (waiting.size > 0 && performance.now() - end < plan.maxDrainMs) await sleep(50);
  await Promise.all([client.endAsync(), observer.endAsync()]);
  const report: FloodReport = {
    sent,
    byKind,
    elapsedMs,
    maxBacklog,
    expectedReplies: sent - (byKind['not-json'] ?? 0),
    repliesDuringFlood,
    replies,
    lastReplyAfterFloodMs: replies > repliesDuringFlood ? Math.round(lastReplyAt - t0 - elapsedMs) : 0,
    unansweredAtStop: waiting.size,
    repliesPerSecond: Array.from(perSecond, (n) => n ?? 0),
  };
  send(report);
}

if (process.send) {
  const send = (m: unknown) => process.send?.(m);
  let go: () => void = () => {};
  const waitGo = new Promise<void>((resolve) => (go = resolve));
  process.on('message', (m: unknown) => {
    if (m === 'go') go();
    else if (typeof m === 'object' && m !== null && typeof (m as FloodPlan).url === 'string')
      run(m as FloodPlan, send, waitGo).then(
        () => process.disconnect(),
        (e: unknown) => {
          process.stderr.write(`flood: ${e instanceof Error ? e.stack : String(e)}\n`);
          process.exit(1);
        },
      );
  });
}
