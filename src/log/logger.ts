import { LogLevel, type Logger as SlackLogger } from '@slack/logger';
import { type DestinationStream, pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

const REDACTED = '[redacted]';

/** Field names whose values are never logged, wherever they appear. */
const REDACT_PATHS = [
  'token',
  'password',
  'secret',
  'authorization',
  'response_url',
  'responseUrl',
  '*.token',
  '*.password',
  '*.secret',
  '*.authorization',
  '*.Authorization',
  '*.response_url',
  '*.responseUrl',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-slack-signature"]',
];

/**
 * Token shapes scrubbed from every line, whatever field or error message carries
 * them: Slack tokens, Slack response URLs, Redis URLs with a password.
 */
const SECRET_PATTERNS: readonly RegExp[] = [
  /\bxox[abposr]-[A-Za-z0-9-]+/g,
  /\bxapp-[A-Za-z0-9-]+/g,
  /https:\/\/hooks\.slack\.com\/[^\s"]+/g,
  // Socket Mode connection URLs carry a one-time ticket.
  /\bticket=[^&\s"]+/g,
  /(rediss?:\/\/[^:/@\s"]*:)[^@\s"]+@/g,
];

export interface LoggerOptions {
  level: string;
  /** Exact secret values from the config, scrubbed from every line. */
  secrets?: readonly string[];
  /** Where lines go; stdout by default. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

export function createLogger({ level, secrets = [], destination }: LoggerOptions): Logger {
  const scrub = makeScrubber(secrets);
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: { streamWrite: scrub },
    },
    // Synchronous writes: a crash or SIGKILL never loses the lines that led up to it.
    destination ?? pino.destination({ sync: true }),
  );
}

export function makeScrubber(secrets: readonly string[]): (line: string) => string {
  // Short values would match ordinary words; real tokens and keys are long.
  const exact = secrets.filter((s) => s.length >= 8).sort((a, b) => b.length - a.length);
  return (line) => {
    let out = line;
    for (const secret of exact) out = out.split(secret).join(REDACTED);
    for (const pattern of SECRET_PATTERNS) {
      out = out.replace(pattern, (_m, keep: unknown) => (typeof keep === 'string' ? `${keep}${REDACTED}@` : REDACTED));
    }
    return out;
  };
}

/** Routes Bolt's and the Web API client's logs through our logger, so they are redacted too. */
export function toSlackLogger(logger: Logger): SlackLogger {
  const child = logger.child({ component: 'slack' });
  let level: LogLevel = LogLevel.INFO;
  const text = (msg: unknown[]): string =>
    msg.map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m))).join(' ');
  return {
    debug: (...msg) => {
      child.debug(text(msg));
    },
    info: (...msg) => {
      child.info(text(msg));
    },
    warn: (...msg) => {
      child.warn(text(msg));
    },
    error: (...msg) => {
      child.error(text(msg));
    },
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
