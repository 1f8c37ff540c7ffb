import pino from 'pino';

/**
 * The process's own log (not access logs): JSON lines on stderr via pino, one child logger per
 * component, with levels settable at run time (admin /logging), as Envoy's loggers are.
 */

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'off';
export const LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'off'];

/** Envoy's level names map onto pino's; "critical" is pino's "fatal", "off" is "silent". */
export function parseLevel(name: string): Level | undefined {
  const n = name.toLowerCase();
  if (n === 'critical') return 'fatal';
  if (n === 'warning') return 'warn';
  return (LEVELS as readonly string[]).includes(n) ? (n as Level) : undefined;
}

const root = pino(
  { level: process.env.WEFT_LOG_LEVEL ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
  pino.destination({ fd: 2, sync: false }),
);

export type Logger = pino.Logger;

const components = new Map<string, Logger>();

export function logger(component: string): Logger {
  let l = components.get(component);
  if (!l) {
    l = root.child({ component });
    components.set(component, l);
  }
  return l;
}

function pinoLevel(level: Level): string {
  return level === 'off' ? 'silent' : level;
}

/** Sets one component's level, or every component's (and the default) when none is named. */
export function setLevel(level: Level, component?: string): boolean {
  if (component !== undefined) {
    const l = components.get(component);
    if (!l) return false;
    l.level = pinoLevel(level);
    return true;
  }
  root.level = pinoLevel(level);
  for (const l of components.values()) l.level = pinoLevel(level);
  return true;
}

export function levels(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, l] of components) out[name] = l.level === 'silent' ? 'off' : l.level;
  return out;
}

export function flushLogs(): void {
  root.flush();
}
