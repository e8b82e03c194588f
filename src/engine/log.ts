/** All engine logging goes to stderr, one line each; stdout carries only --dry-run's JSON. */
export function log(message: string): void {
  process.stderr.write(`router-engine: ${message}\n`);
}
