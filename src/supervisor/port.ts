import net from 'node:net';
import getPort from 'get-port';

/**
 * A port that is free on `host` right now. get-port also keeps each port it hands out locked for a while
 * within this process, so children started at the same moment do not get the same port. Another process can
 * still take it before the child binds: see isBindFailure/portInUse for how a start attempt notices.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return getPort({ host });
}

// llama-server: "couldn't bind HTTP server socket, hostname: ..., port: ..."; node: "listen EADDRINUSE: address
// already in use"; Python/uvicorn: "[Errno 98] ... address already in use"; Go: "bind: address already in use".
const BIND_FAILURE = /address already in use|EADDRINUSE|couldn'?t bind|could not bind|failed to bind|bind failed|unable to bind|error binding/i;

/** Does this output line say the child could not bind its port? */
export function isBindFailure(line: string): boolean {
  return BIND_FAILURE.test(line);
}

/**
 * Is something listening on host:port now? For a child that died before ready without saying why: if its port is
 * taken, the port race is the likely cause and a retry with another port can help.
 */
export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE' || err.code === 'EACCES'));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(false)));
  });
}
