// Who may do what on a Latchkey broker, written once: the embedded broker's hooks check these rules
// and `latchkey mosquitto-acl` writes them as Mosquitto ACL lines.
//
//   a gateway (its login is its gateway id) publishes its availability, states and replies, clears
//   retained tokens on its access topics, and reads its access topics;
//   a guest publishes tokens (never retained, at most MAX_TOKEN_BYTES) and reads states, availability
//   and the replies under its own client id: <prefix>/<gw>/<device>/reply/<client id>/<n>.

import { isRequestIdLevel, MAX_TOKEN_BYTES } from '../access/token.js';

/** Guests' client ids start with this (Mosquitto's clientid_prefixes lets only such ids connect). */
export const GUEST_CLIENT_ID_PREFIX = 'latchkey-guest-';
/** The client-id prefix of every Latchkey client: a gateway's is latchkey-<gateway id>. */
export const CLIENT_ID_PREFIX = 'latchkey-';
/** Largest payload a guest may publish. */
export const MAX_GUEST_PAYLOAD_BYTES = MAX_TOKEN_BYTES;

export type Role = 'gateway' | 'guest';

export interface Rule {
  role: Role;
  access: 'read' | 'write';
  /** A topic filter; `{gateway}` is the gateway's id, `{client}` the client id. */
  topic: string;
}

export function brokerRules(prefix: string): Rule[] {
  return [
    { role: 'gateway', access: 'write', topic: `${prefix}/{gateway}/availability` },
    { role: 'gateway', access: 'write', topic: `${prefix}/{gateway}/+/state` },
    { role: 'gateway', access: 'write', topic: `${prefix}/{gateway}/+/reply/#` },
    // only to clear a retained token (an empty retained message); the agent never acts on its own
    { role: 'gateway', access: 'write', topic: `${prefix}/{gateway}/+/access` },
    { role: 'gateway', access: 'read', topic: `${prefix}/{gateway}/+/access` },
    { role: 'guest', access: 'write', topic: `${prefix}/{gateway}/+/access` },
    { role: 'guest', access: 'read', topic: `${prefix}/+/+/state` },
    { role: 'guest', access: 'read', topic: `${prefix}/+/availability` },
    { role: 'guest', access: 'read', topic: `${prefix}/+/+/reply/{client}/+` },
  ];
}

/** A guest's client id: the prefix, then request-id characters (it is the owner level of its reply ids). */
export function isGuestClientId(id: string): boolean {
  return (
    id.length > GUEST_CLIENT_ID_PREFIX.length && id.startsWith(GUEST_CLIENT_ID_PREFIX) && isRequestIdLevel(id)
  );
}

/**
 * True when every topic `filter` matches is matched by `allowed` too (both MQTT filters): a
 * subscription is granted only within a rule.
 */
export function filterWithin(filter: string, allowed: string): boolean {
  const f = filter.split('/');
  const a = allowed.split('/');
  for (let i = 0; i < f.length; i++) {
    const want = a[i];
    const have = f[i] as string;
    if (want === undefined) return false;
    if (want === '#') return true;
    if (have === '#') return false;
    if (want === '+') continue;
    if (have !== want) return false;
  }
  return f.length === a.length;
}

/** A rule's topic with its placeholders filled in for one client. */
export function ruleTopic(rule: Rule, who: { gatewayId?: string; clientId: string }): string | undefined {
  if (rule.topic.includes('{gateway}') && who.gatewayId === undefined) return undefined;
  return rule.topic.replace('{gateway}', who.gatewayId ?? '').replace('{client}', who.clientId);
}
