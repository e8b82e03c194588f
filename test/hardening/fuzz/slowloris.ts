/** A slowloris client: headers that never end, one byte every `everyMs`, until the server hangs up. */
import net from 'node:net';

export interface SlowResult {
  /** From connect to the server's close. */
  heldMs: number;
  /** Header bytes the client got out before that. */
  sent: number;
  received: string;
}

export function slowloris(port: number, everyMs = 300, giveUpMs = 120_000): Promise<SlowResult> {
  return new Promise((resolve) => {
    const start = Date.now();
    const text = `GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(100_000)}`;
    const socket = net.connect(port, '127.0.0.1');
    let sent = 0;
    let received = '';
    const tick = setInterval(() => {
      if (socket.writable) socket.write(text[sent++ % text.length]!);
    }, everyMs);
    // Only a safety net for a server that never hangs up: the test then fails on heldMs.
    const giveUp = setTimeout(() => socket.destroy(), giveUpMs);
    socket.on('data', (d: Buffer) => (received += d.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(tick);
      clearTimeout(giveUp);
      resolve({ heldMs: Date.now() - start, sent, received });
    });
  });
}
