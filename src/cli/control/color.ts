/**
 * Colour for the control subcommands, on a terminal only. Node's hasColors() already honours NO_COLOR,
 * NODE_DISABLE_COLORS, FORCE_COLOR and TERM=dumb; a pipe or a file never gets escape codes.
 */
export interface Paint {
  enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const codes = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39] } as const;

export function paintFor(stream: NodeJS.WriteStream = process.stdout): Paint {
  const enabled = stream.isTTY === true && typeof stream.hasColors === 'function' && stream.hasColors();
  const style = (open: number, close: number) => (enabled ? (s: string) => (s ? `\x1b[${open}m${s}\x1b[${close}m` : s) : (s: string) => s);
  return {
    enabled,
    bold: style(...codes.bold),
    dim: style(...codes.dim),
    red: style(...codes.red),
    green: style(...codes.green),
    yellow: style(...codes.yellow),
    cyan: style(...codes.cyan),
  };
}

/** A model state (a table cell, maybe padded) in the colour the dashboard gives it. */
export function paintState(p: Paint, state: string): string {
  switch (state.trim()) {
    case 'loaded':
      return p.green(state);
    case 'loading':
    case 'unloading':
      return p.yellow(state);
    case 'failed':
      return p.red(state);
    default:
      return p.dim(state);
  }
}
