// A free TCP port on the loopback interface, for servers the tests and benches start.

import { type AddressInfo, createServer } from 'node:net';

/** A port nothing listens on right now (the OS picks it; another process could take it before use). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
