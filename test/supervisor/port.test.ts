import net from 'node:net';
import { freePort, isBindFailure, portInUse } from '../../src/supervisor/port.js';

describe('port', () => {
  it('freePort gives a loopback port that is free', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(await portInUse(port)).toBe(false);
  });

  it('portInUse sees a listening socket', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(await portInUse(port)).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it.each([
    "couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 8080",
    'Error: listen EADDRINUSE: address already in use 127.0.0.1:8080',
    'ERROR:    [Errno 98] error while attempting to bind on address: address already in use',
    'listen tcp 127.0.0.1:8080: bind: address already in use',
  ])('recognises a bind failure: %s', (line) => {
    expect(isBindFailure(line)).toBe(true);
  });

  it('does not mistake ordinary lines for bind failures', () => {
    expect(isBindFailure('main: server is listening on http://127.0.0.1:8080')).toBe(false);
    expect(isBindFailure('llama_model_load: error loading model')).toBe(false);
  });
});
