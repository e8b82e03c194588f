/**
 * A one-line spinner for a terminal (no dependency: ora would do the same in more code).
 * Off a TTY it prints nothing, so pipes and logs get only the final line.
 */
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Spinner {
  stop(): void;
}

export function spinner(text: () => string, stream: NodeJS.WriteStream = process.stderr): Spinner {
  if (!stream.isTTY) return { stop() {} };
  let i = 0;
  const draw = () => stream.write(`\r\x1b[K${FRAMES[i++ % FRAMES.length]} ${text()}`);
  stream.write('\x1b[?25l'); // hide the cursor while drawing
  draw();
  const timer = setInterval(draw, 80);
  const restore = () => stream.write('\x1b[?25h');
  process.once('exit', restore);
  return {
    stop() {
      clearInterval(timer);
      stream.write('\r\x1b[K');
      restore();
      process.off('exit', restore);
    },
  };
}
