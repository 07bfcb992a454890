// Where the reply to an access request goes and who to name as its source, from the MQTT 5 properties
// and the token's `id` field. Pure: no I/O.

import { decodePayload, isRequestId } from '../access/token.js';
import type { Topics } from './topics.js';
import { hasWildcard } from './topics.js';

export interface ReplyRoute {
  topic: string;
  /** MQTT 5 correlation data, echoed unchanged. */
  correlationData?: Buffer;
}

export interface RequestInfo {
  /** Undefined when the requester gave neither a usable response topic nor an `id`: no reply is possible. */
  route: ReplyRoute | undefined;
  /** For rate limiting and audit: `mqtt:<user property source>`, `mqtt:<response topic>`, `mqtt:reply/<id>` or `mqtt`. */
  source: string;
}

export interface PublishProperties {
  responseTopic?: string | undefined;
  correlationData?: Buffer | undefined;
  userProperties?: Record<string, string | string[]> | undefined;
}

const MAX_RESPONSE_TOPIC_BYTES = 256;
const SOURCE = /^[\x21-\x7e]{1,64}$/;

export function describeRequest(input: {
  topics: Topics;
  gatewayId: string;
  deviceId: bigint;
  payload: Buffer;
  properties: PublishProperties | undefined;
}): RequestInfo {
  const { topics, properties } = input;
  const responseTopic = usableResponseTopic(topics, properties?.responseTopic);
  const correlation = properties?.correlationData ? { correlationData: properties.correlationData } : {};
  const requestId = responseTopic === undefined ? requestIdOf(input.payload) : undefined;
  const route: ReplyRoute | undefined =
    responseTopic !== undefined
      ? { topic: responseTopic, ...correlation }
      : requestId !== undefined
        ? { topic: topics.reply(input.gatewayId, input.deviceId, requestId), ...correlation }
        : undefined;

  const claimed = properties?.userProperties?.source;
  const named = Array.isArray(claimed) ? claimed[0] : claimed;
  const source =
    named !== undefined && SOURCE.test(named)
      ? `mqtt:${named}`
      : responseTopic !== undefined
        ? `mqtt:${responseTopic}`
        : requestId !== undefined
          ? `mqtt:reply/${requestId}`
          : 'mqtt';
  return { route, source };
}

/** The `id` of a JSON token, if it is a request id. Decoded as the token parser decodes it. Never throws. */
export function requestIdOf(payload: Buffer): string | undefined {
  const decoded = decodePayload(payload);
  if (!decoded.ok) return undefined;
  const value = decoded.value;
  if (typeof value !== 'object' || value === null) return undefined;
  const id = (value as { id?: unknown }).id;
  return isRequestId(id) ? id : undefined;
}

// A response topic must be a plain topic, and inside our own prefix it may only be a reply topic:
// a requester must not make the agent publish onto access, state or availability topics.
function usableResponseTopic(topics: Topics, topic: string | undefined): string | undefined {
  if (topic === undefined || topic.length === 0 || Buffer.byteLength(topic) > MAX_RESPONSE_TOPIC_BYTES) {
    return undefined;
  }
  if (hasWildcard(topic) || topic.startsWith('$')) return undefined;
  if (topic === topics.prefix || topic.startsWith(`${topics.prefix}/`)) {
    return topics.parse(topic)?.kind === 'reply' ? topic : undefined;
  }
  return topic;
}
