import { LogLevel, type Logger as SlackLogger } from '@slack/logger';
import { type DestinationStream, pino, type Logger as PinoLogger } from 'pino';
import { withoutUrlCredentials } from '../util/url-credentials.ts';

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
 * them: Slack tokens, Slack response URLs. URLs with a user name or password
 * (Redis URLs, a webhook typed into a command) lose them by withoutUrlCredentials.
 */
const SECRET_PATTERNS: readonly RegExp[] = [
  /\bxox[abposr]-[A-Za-z0-9-]+/g,
  /\bxapp-[A-Za-z0-9-]+/g,
  /https:\/\/hooks\.slack\.com\/[^\s"]+/g,
  // Socket Mode connection URLs carry a one-time ticket.
  /\bticket=[^&\s"]+/g,
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
    for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, REDACTED);
    return withoutUrlCredentials(out);
  };
}

/**
 * The debug lines of Bolt, the Web API client and the Socket Mode client that
 * carry what people typed or were shown (request and response bodies, acks,
 * WebSocket envelopes): kept up to where the content starts. A command's text
 * or a message can hold anything, in shapes no pattern knows.
 */
const CONTENT_LINES: readonly RegExp[] = [
  /^(http request (?:body|result): )/,
  /^(ack\(\) [a-z ]+\(body: )/,
  /^(Received a message on the WebSocket: )/,
  /^(Sending a WebSocket message: )/,
  /^(Calling ack\(\) - type: [^,]*, envelope_id: [^,]*, data: )/,
  /^(Unable to parse an incoming WebSocket message \(will ignore\): )/,
];

function withoutContent(line: string): string {
  for (const pattern of CONTENT_LINES) {
    const start = pattern.exec(line)?.[1];
    if (start !== undefined) return `${start}[content not logged]`;
  }
  return line;
}

/** Routes Bolt's and the Web API client's logs through our logger, so they are redacted too. */
export function toSlackLogger(logger: Logger): SlackLogger {
  const child = logger.child({ component: 'slack' });
  let level: LogLevel = LogLevel.INFO;
  const text = (msg: unknown[]): string =>
    withoutContent(msg.map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m))).join(' '));
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
