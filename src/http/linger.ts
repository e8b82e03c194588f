/**
 * Closing a connection whose request body was not read (413 before or during the upload). Closing a socket with
 * unread bytes in its receive buffer makes the kernel send RST, and a client still uploading then loses the 413
 * it was sent (it sees EPIPE/ECONNRESET instead). So, as nginx's lingering close does: send the answer, then FIN,
 * and read and throw away what still comes (nothing is kept) until the client closes, at most LINGER_MS.
 */
import type { Answer } from './edge.js';
import type { Socket } from 'node:net';

export const LINGER_MS = 5_000;

/** Answer with `Connection: close`; once the answer is out, half-close and let the client hang up first. */
export function closeAfterAnswer(res: Answer): void {
  res.setHeader('Connection', 'close');
  const socket = res.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!socket || socket.destroyed) return;
  // node calls destroySoon() when a `Connection: close` answer is finished: end(), then destroy() at once.
  socket.destroySoon = () => {
    socket.end();
    // Flowing with no listener: the rest of the body is discarded, and the client's FIN is seen at once.
    res.req?.resume();
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };
}
