import { describe, expect, it } from 'vitest';
import { describeRequest, requestIdOf } from './request.js';
import { Topics } from './topics.js';

const topics = new Topics();
const payload = (value: unknown) => Buffer.from(JSON.stringify(value));
const describeWith = (
  properties: Parameters<typeof describeRequest>[0]['properties'],
  body = payload({ id: 'r1' }),
) => describeRequest({ topics, gatewayId: 'gw1', deviceId: 3n, payload: body, properties });

describe('describeRequest', () => {
  it('routes to the MQTT 5 response topic with its correlation data', () => {
    const info = describeWith({ responseTopic: 'guest/abc/inbox', correlationData: Buffer.from('c1') });
    expect(info).toEqual({
      route: { topic: 'guest/abc/inbox', correlationData: Buffer.from('c1') },
      source: 'mqtt:guest/abc/inbox',
    });
  });

  it('routes to reply/<id> without a response topic (MQTT 3.1.1)', () => {
    expect(describeWith(undefined)).toEqual({
      route: { topic: 'latchkey/gw1/3/reply/r1' },
      source: 'mqtt:reply/r1',
    });
  });

  it('never routes a reply onto access, state or availability topics, nor wildcards', () => {
    for (const responseTopic of [
      'latchkey/gw1/3/access',
      'latchkey/gw2/3/access',
      'latchkey/gw1/3/state',
      'latchkey/gw1/availability',
      'latchkey',
      'guest/+/inbox',
      'guest/#',
      '$SYS/broker',
      'x'.repeat(300),
    ]) {
      expect(describeWith({ responseTopic }).route, responseTopic).toEqual({
        topic: 'latchkey/gw1/3/reply/r1',
      });
    }
    expect(describeWith({ responseTopic: 'latchkey/gw1/3/reply/other' }).route).toEqual({
      topic: 'latchkey/gw1/3/reply/other',
    });
  });

  it('has no route when there is neither a response topic nor a usable id', () => {
    for (const body of [
      Buffer.from('not json'),
      payload({}),
      payload({ id: 'a/b/c' }),
      payload({ id: 7 }),
      payload(null),
    ]) {
      expect(describeWith(undefined, body)).toEqual({ route: undefined, source: 'mqtt' });
    }
  });

  it('names the source from the user property when it is short and printable', () => {
    expect(describeWith({ userProperties: { source: 'phone-12' } }).source).toBe('mqtt:phone-12');
    expect(describeWith({ userProperties: { source: ['first', 'second'] } }).source).toBe('mqtt:first');
    expect(describeWith({ userProperties: { source: 'has space' } }).source).toBe('mqtt:reply/r1');
    expect(describeWith({ userProperties: { source: 'x'.repeat(65) } }).source).toBe('mqtt:reply/r1');
  });
});

describe('requestIdOf', () => {
  it('reads a safe id and ignores everything else', () => {
    expect(requestIdOf(payload({ id: 'abc-1', access: {} }))).toBe('abc-1');
    expect(requestIdOf(payload({ id: 'x'.repeat(65) }))).toBeUndefined();
    expect(requestIdOf(Buffer.from('{"id":"abc"'))).toBeUndefined();
  });
});
