/**
 * nginx as a reference proxy in the proxy benchmark, started with its own configuration (one worker,
 * keep-alive to the upstream, no buffering, no access log) when an `nginx` binary is installed
 * (Debian: nginx-light). None installed: the benchmark says so and goes on without it.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import getPort from 'get-port';
import { childrenOf } from './cpu.js';
import { startCommand, untilHealthy, type Started } from './processes.js';

export function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  return dirs.filter((dir) => dir.startsWith('/')).map((dir) => join(dir, 'nginx')).find((p) => existsSync(p));
}

/** nginx in front of 127.0.0.1:upstreamPort; pids() are the master's and its worker's. */
export async function startNginx(bin: string, dir: string, upstreamPort: number): Promise<Started & { pids(): number[] }> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const port = await getPort({ host: '127.0.0.1' });
  const conf = join(dir, 'nginx.conf');
  const tmp = join(dir, 'tmp');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  upstream child { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://child;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`,
  );
  const p = await startCommand(bin, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { port });
  await untilHealthy(p, 10_000, '/health');
  return { ...p, pids: () => [p.proc.pid!, ...childrenOf(p.proc.pid!)] };
}
