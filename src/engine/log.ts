/** All engine logging goes to stderr, one line each; stdout carries only --dry-run's JSON. */
export function log(message: string): void {
  process.stderr.write(`router-engine: ${message}\n`);
}

// The router gives its children a file for their output: on a full disk a write fails (ENOSPC), and on a closed
// pipe (started by hand, its reader gone) with EPIPE. A log line that cannot be written must not end the server, as
// the 'error' event nobody listens for would.
process.stderr.on('error', () => {});
process.stdout.on('error', () => {});
