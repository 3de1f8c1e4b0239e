import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.ts';
import { type Config, ConfigSchema, ROLES, type Role, SETTINGS } from './schema.ts';

export const SLACK_SETUP_HELP = 'see README.md, section "Create the Slack app" (deploy/slack-manifest.yaml)';

export interface LoadConfigInput {
  env: NodeJS.ProcessEnv;
  /** `--role` from the command line; `DR_ROLE` in the environment otherwise; `all` by default. */
  role?: string | undefined;
  /** `--config` from the command line; `DR_CONFIG_FILE` in the environment otherwise. */
  configFile?: string | undefined;
  /** The CLI works without Slack (that is what it is for); the bot and workers need it. */
  needsSlack?: boolean;
}

/**
 * Reads the environment and the optional YAML config file, validates both, and
 * returns the typed config. Throws one ConfigError that names every bad or
 * missing setting by the name the user typed (env variable or file key).
 * Precedence: environment, then file, then defaults.
 */
export function loadConfig({ env, role, configFile, needsSlack = true }: LoadConfigInput): Config {
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};
  const sourceOf = new Map<string, string>();

  const chosenRole = role ?? env.DR_ROLE ?? 'all';
  if (!isRole(chosenRole)) {
    problems.push(`role "${chosenRole}" is unknown: use one of ${ROLES.join(', ')} (--role or DR_ROLE)`);
  }
  raw.role = isRole(chosenRole) ? chosenRole : 'all';

  const filePath = configFile ?? env.DR_CONFIG_FILE;
  const fileValues = filePath ? readConfigFile(filePath, problems) : new Map<string, unknown>();

  for (const setting of SETTINGS) {
    const fromEnv = env[setting.env];
    if (fromEnv !== undefined && fromEnv !== '') {
      setPath(raw, setting.key, fromEnv);
      sourceOf.set(setting.key, setting.env);
    } else if (fileValues.has(setting.key)) {
      setPath(raw, setting.key, fileValues.get(setting.key));
      sourceOf.set(setting.key, `${setting.key} in ${filePath ?? ''}`);
    }
  }

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.');
      // A problem inside a map-valued setting (targets) names the setting, then where in it.
      const setting = SETTINGS.find((s) => key === s.key || key.startsWith(`${s.key}.`));
      const name = sourceOf.get(setting?.key ?? key) ?? setting?.env ?? key;
      const inside = setting && key !== setting.key ? ` ${key.slice(setting.key.length + 1)}` : '';
      problems.push(`${name}${inside}: ${issue.message}`);
    }
  }
  if (needsSlack) problems.push(...missingForRole(raw.role as Role, raw.slack));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return parsed.data;
}

/**
 * Credentials each role needs, checked on the raw values so that one start
 * lists every missing one, even beside other errors.
 */
function missingForRole(role: Role, slack: unknown): string[] {
  const has = (key: string) => isPlainObject(slack) && typeof slack[key] === 'string';
  const problems: string[] = [];
  if (!has('botToken')) {
    problems.push(`SLACK_BOT_TOKEN is missing: the Bot User OAuth Token (xoxb-…) of your Slack app; ${SLACK_SETUP_HELP}`);
  }
  if (role !== 'worker' && !has('appToken') && !has('signingSecret')) {
    problems.push(
      `SLACK_SIGNING_SECRET is missing: needed in HTTP mode to verify requests from Slack (or set SLACK_APP_TOKEN, xapp-…, for Socket Mode); ${SLACK_SETUP_HELP}`,
    );
  }
  return problems;
}

function readConfigFile(path: string, problems: string[]): Map<string, unknown> {
  const values = new Map<string, unknown>();
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    problems.push(`config file ${path}: cannot be read as YAML: ${reason ?? ''}`);
    return values;
  }
  if (doc === null || doc === undefined) return values;
  if (!isPlainObject(doc)) {
    problems.push(`config file ${path}: must be a YAML mapping of settings`);
    return values;
  }
  for (const [key, value] of flatten(doc)) {
    const setting = SETTINGS.find((s) => s.key === key);
    if (!setting) {
      problems.push(`${key} in ${path}: unknown setting (known: ${SETTINGS.map((s) => s.key).join(', ')})`);
    } else if ('secret' in setting) {
      problems.push(`${key} in ${path}: secrets are read from the environment only; set ${setting.env} instead`);
    } else {
      values.set(key, value);
    }
  }
  return values;
}

/** Dotted keys of the file's values; a setting whose value is itself a map (`targets`) is kept whole. */
function flatten(obj: Record<string, unknown>, prefix = ''): [string, unknown][] {
  return Object.entries(obj).flatMap(([k, v]) =>
    isPlainObject(v) && !SETTINGS.some((s) => s.key === `${prefix}${k}`) ? flatten(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v] as [string, unknown]],
  );
}

function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  const last = parts.pop();
  if (last === undefined) return;
  let node = target;
  for (const part of parts) {
    const next = node[part];
    node = isPlainObject(next) ? next : (node[part] = {});
  }
  node[last] = value;
}

const USAGE = 'usage: dr-chatops [--role all|bot|worker] [--config file.yaml]';

/** Parses `--role bot`, `--role=bot`, `--config path`; anything else is an error. */
export function parseArgs(argv: readonly string[]): { role?: string; configFile?: string } {
  const out: { role?: string; configFile?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (flag !== '--role' && flag !== '--config') throw new ConfigError([`unknown argument ${flag} (${USAGE})`]);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '' || value.startsWith('--')) {
      throw new ConfigError([`${flag} needs a value (${USAGE})`]);
    }
    if (flag === '--role') out.role = value;
    else out.configFile = value;
  }
  return out;
}
