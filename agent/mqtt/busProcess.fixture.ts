// An MqttBus alone in a child process, for tests that kill it with SIGKILL (a real crash):
// argv: <broker url> <gateway id>; prints "connected" once the bus is connected.

import { silentLogger } from '../log.js';
import { MqttBus } from './bus.js';

const [url, gatewayId] = process.argv.slice(2);
if (!url || !gatewayId) throw new Error('usage: busProcess.fixture.ts <url> <gatewayId>');
const bus = new MqttBus({ url, gatewayId, deviceIds: [1n], onAccess: () => {}, log: silentLogger });
bus.once('connected', () => process.stdout.write('connected\n'));
await bus.start();
