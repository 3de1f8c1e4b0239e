import { randomBytes } from 'node:crypto';
import { UserError } from '../errors.ts';
import { closestMatch } from '../util/closest.ts';
import { code } from '../util/mrkdwn.ts';
import { type Incident, SEVERITIES, SLACK_USER_ID } from './model.ts';
import { SCENARIO_IDS, type ScenarioId } from './scenarios.ts';

/** A declaration, from any front end (the one-line command, the form). */
export interface DeclareInput {
  scenario: string;
  title: string;
  severity?: string;
  public: boolean;
  requester: string;
  /** Where it was declared: the command's channel, or the one a declaration form was opened in (`form`). */
  originChannel?: string;
  /** A declaration form's id (`startDeclaration`): its channel comes from the server, never from the form. */
  form?: string;
  /** Slack's trigger id: a retried command declares once. */
  dedupeKey: string;
  affectedServices?: string[];
  impact?: string;
  /** Slack user id; the declarer when not given. */
  commander?: string;
}

/**
 * What a front end checks around a declaration, after its fields are valid:
 * the commander is someone who may command (`mayCommand`), then flood limits
 * (`admit`, last; a retried declaration with the same dedupe key counts
 * once). Both throw a UserError; nothing is created then.
 */
export interface DeclareCheck {
  mayCommand(commander: string): Promise<void>;
  admit(input: Pick<DeclareInput, 'requester' | 'dedupeKey'>): Promise<void>;
}

/** How long a declaration form's context is kept: long enough to fill it in during an incident. */
export const DECLARE_FORM_TTL_MS = 60 * 60_000;

/** A declaration form's id: random, so that one cannot be guessed from another. */
export function newFormId(): string {
  return randomBytes(16).toString('hex');
}

export function isFormId(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}

/** The declaration's own fields, checked and normalised; a UserError names the field that is wrong. Pure. */
export function validDeclaration(input: DeclareInput): { scenario: ScenarioId; title: string; severity: Incident['severity']; impact: string; commander: string } {
  const scenario = input.scenario.toLowerCase();
  if (!(SCENARIO_IDS as readonly string[]).includes(scenario)) {
    const close = closestMatch(scenario, SCENARIO_IDS);
    throw new UserError(`There is no scenario ${code(input.scenario.slice(0, 40))}.${close ? ` Did you mean \`${close}\`?` : ''} Scenarios (from the DR plan): ${SCENARIO_IDS.join(', ')}.`, 'scenario');
  }
  const title = input.title.trim();
  if (title.length < 3 || title.length > 150) throw new UserError('The title must be 3 to 150 characters, e.g. `"API down in us-east-1"`.', 'title');
  const severity = input.severity ?? 'sev1';
  if (!(SEVERITIES as readonly string[]).includes(severity)) throw new UserError(`Severity is one of ${SEVERITIES.join(', ')}.`, 'severity');
  const unknown = (input.affectedServices ?? []).filter((s) => !/^[\w.-]{1,40}$/.test(s));
  if (unknown.length) throw new UserError(`${code(unknown[0]?.slice(0, 40) ?? '')} is not a service name (letters, digits, \`-\`, \`_\`, \`.\`), e.g. \`--services api,db\`.`, 'services');
  const impact = input.impact?.trim() ?? '';
  if (impact.length > 500) throw new UserError('Keep the impact under 500 characters: who is affected and how.', 'impact');
  const commander = input.commander ?? input.requester;
  if (!SLACK_USER_ID.test(commander)) throw new UserError('Choose the incident commander from the list: a person of this workspace.', 'commander');
  if (!SLACK_USER_ID.test(input.requester)) throw new UserError('This request does not say who declares; nothing was declared.');
  return { scenario: scenario as ScenarioId, title, severity: severity as Incident['severity'], impact, commander };
}
