/** Secrets that must not leave through operability routes (events, logs). */

/** A child's command line carries its private key (`--api-key KEY`): mask it. */
export function redact(text: string): string {
  return text.replace(/(--api-key[= ])\S+/g, '$1***');
}
