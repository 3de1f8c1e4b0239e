import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createdChannelId, readable } from '../support/fake-slack.ts';
import { FakeKube } from '../support/fake-kube.ts';
import { FakeRds } from '../support/fake-rds.ts';
import { FakeSecretsManager } from '../support/fake-secrets-manager.ts';
import { FakeService } from '../support/fake-service.ts';
import { resourceByPath } from '../support/kube/objects.ts';
import { ALICE, AWS_KEY, BOB, CAROL, reportSteps, ScenarioProcesses, shippedStepIds } from '../support/scenario-processes.ts';

const CLUSTER = 'prod-aurora-cluster';
const OLD_PASSWORD = 'old-leaked-password-0002';
const GENERAL = 'C0GENERAL01';
/** Every step of the shipped runbook, in its order (the evidence first, the two questions before the lift). */
const STEPS = shippedStepIds('contain-breach');
const policyType = resourceByPath('networking.k8s.io', 'v1', 'networkpolicies');

/**
 * A security breach, end to end: the `reports` deployment of production is
 * compromised. Alice declares the incident with `/dr declare`, and in the
 * incident's channel asks for `/dr run contain-breach …`; Bob and Carol
 * approve with the button, a worker process carries the runbook out against
 * the fakes, and the runbook's two questions are answered on the run message
 * as people would: Carol says the bot's credentials are queued for rotation,
 * Bob that the threat is contained. The database's master password is an
 * RDS-managed secret, rotated by RDS.
 */
describe('scenario: a security breach contained, through the bot and worker processes', () => {
  let rds: FakeRds;
  let sm: FakeSecretsManager;
  let kube: FakeKube;
  let api: FakeService;
  let dr: ScenarioProcesses;

  beforeAll(async () => {
    [rds, sm, kube, api] = await Promise.all([new FakeRds().start(), new FakeSecretsManager().start(), new FakeKube().start(), new FakeService().start()]);
    rds.region = 'us-east-1';
    rds.passwords.keepSecretsIn(sm);
    sm.knownSecrets.set(AWS_KEY.accessKeyId, AWS_KEY.secretAccessKey);
    kube.rolloutMs = 200;
    dr = await ScenarioProcesses.start({
      defaultTarget: 'prod',
      targets: { prod: { label: 'production', region: 'us-east-1', endpoints: { rds: rds.url, secretsmanager: sm.url }, kubernetes: { kubeconfig: kube.writeKubeconfig() } } },
    });
  }, 40_000);
  afterAll(async () => {
    await dr.stop();
    await Promise.all([rds.stop(), sm.stop(), kube.stop(), api.stop()]);
  });

  const isolation = () => (policyType ? kube.objects.get(policyType, 'production', 'dr-chatops-isolate') : undefined);
  const appPassword = () => kube.secretValue('production', 'database-credentials', 'password') ?? '';
  const restartedAt = (name: string) => ((kube.deployments.get(`production/${name}`)?.template.metadata ?? {}) as { annotations?: Record<string, string> }).annotations?.['kubectl.kubernetes.io/restartedAt'];
  /** Everything the bot sent to Slack: every API call's arguments (messages, updates, files, private answers). */
  const sentToSlack = () => JSON.stringify([dr.slack.calls.map((c) => c.args), dr.slack.responses.map((r) => r.body), [...dr.slack.messages.values()]]);

  /** `/dr declare` in a general channel; the incident's own channel once the bot has announced the incident there. */
  const declare = async (title: string): Promise<string> => {
    const before = dr.slack.callsTo('conversations.create').length;
    const { ack } = await dr.command(`declare security-breach "${title}"`, ALICE, GENERAL);
    expect(ack.status).toBe(200);
    const channel = createdChannelId(await dr.slack.waitFor(() => dr.slack.callsTo('conversations.create')[before], 20_000));
    await dr.slack.waitFor(() => dr.slack.callsTo('chat.postMessage').find((c) => c.args.channel === channel && readable(c.args).includes(`[INCIDENT] ${title}`)), 20_000);
    return channel;
  };

  it('in the incident channel: isolated, contained, evidence tagged with the incident, the managed password rotated into the Secret, restarted, lifted on an approver’s word, healthy; the password nowhere in Slack, the logs or the report', async () => {
    rds.addCluster(CLUSTER, { earliest: new Date(0), latest: new Date() });
    const managed = rds.passwords.manage(CLUSTER, OLD_PASSWORD);
    kube.addDeployment('production', 'api', ['api:3.2.0'], { replicas: 3 });
    kube.addDeployment('production', 'reports', ['reports:1.4.0'], { replicas: 2 });
    kube.addSecret('production', 'database-credentials', { host: `${CLUSTER}.cluster-abc123.us-east-1.rds.amazonaws.com`, username: 'postgres', password: OLD_PASSWORD });

    const channel = await declare('Reports service compromised');
    const run = await dr.request(`run contain-breach cluster=${CLUSTER} deployments=reports restart=api healthUrl=${api.url}/health`, ALICE, channel);
    const plan = await dr.messageShows(run, /awaiting approval \(0 of 2\)/);
    // The run belongs to the incident: the evidence is planned under its id.
    const incidentId = /\(incident ([a-z0-9-]+)\)/.exec(plan)?.[1] ?? '';
    expect(incidentId).not.toBe('');
    expect(incidentId).not.toBe(run.runId);
    expect(plan).toContain(`${CLUSTER}-evidence-${run.runId}`);
    expect(isolation()).toBeUndefined();

    expect(await dr.answerTo(await dr.click(run, 'run.approve', BOB))).toContain('Approval recorded: 1 of 2');
    await dr.click(run, 'run.approve', CAROL);

    // First question: the bot's own credentials; Carol has queued their rotation.
    const credentialsAsked = await dr.messageShows(run, /Decision needed at `bot-credentials`/, 30_000);
    expect(credentialsAsked).toContain("The bot's own credentials may have leaked with the rest");
    await dr.click(run, 'run.gate-accept', CAROL, dr.buttonValue(run, 'run.gate-accept'));

    // Second question, before the namespace gets its network back: meanwhile it is isolated, the app restarted with the new password.
    const reopenAsked = await dr.messageShows(run, /Decision needed at `reopen`/, 30_000);
    expect(reopenAsked).toContain('Is the threat contained?');
    expect(reopenAsked).toContain(`evidence snapshot ${CLUSTER}-evidence-${run.runId} (incident ${incidentId})`);
    expect(isolation()).toBeDefined();
    expect(restartedAt('api')).toBeDefined();
    expect(kube.deployments.get('production/reports')).toMatchObject({ replicas: 0 });
    await dr.click(run, 'run.gate-accept', BOB, dr.buttonValue(run, 'run.gate-accept'));

    const { ending, message, report, reportComment } = await dr.ended(run);
    expect(ending).toMatch(new RegExp(`:large_green_circle: \\*Contain a security breach\\* \\(run \`${run.runId}\`\\) succeeded in`));
    expect(message).toContain(`${String(STEPS.length)}/${String(STEPS.length)} steps`);

    // Evidence: one manual snapshot of the cluster, tagged with the incident, the run and its purpose.
    expect(rds.snapshots).toHaveLength(1);
    expect(rds.snapshots[0]).toMatchObject({ clusterId: CLUSTER, type: 'manual', tags: { 'dr-chatops:incident': incidentId, 'dr-chatops:run': run.runId, 'dr-chatops:purpose': 'evidence' } });
    // Containment: the compromised deployment kept, at 0 replicas, its count recorded; the application untouched in size, restarted.
    expect(kube.deployments.get('production/reports')).toMatchObject({ replicas: 0 });
    expect(kube.deployments.get('production/reports')?.annotations['dr-chatops/replicas-before']).toBe('2');
    expect(kube.deployments.get('production/api')).toMatchObject({ replicas: 3 });
    expect(restartedAt('reports')).toBeUndefined();
    // Isolation: the deny-all policy made once, lifted as the runbook ends on Bob's word.
    expect(kube.callsMatching('POST', '/namespaces/production/networkpolicies')).toHaveLength(1);
    expect(isolation()).toBeUndefined();
    // The password: rotated by RDS in its managed secret, and the application's Secret holds the new one (its other keys kept).
    expect(rds.callsTo('ModifyDBCluster').map((c) => c.params.RotateMasterUserPassword)).toEqual(['true']);
    const password = rds.passwords.current.get(CLUSTER) ?? '';
    expect(password).not.toBe('');
    expect(password).not.toBe(OLD_PASSWORD);
    expect(JSON.parse(sm.currentValue('us-east-1', managed.name) ?? '{}')).toMatchObject({ password });
    expect(appPassword()).toBe(password);
    expect(kube.secretValue('production', 'database-credentials', 'host')).toBe(`${CLUSTER}.cluster-abc123.us-east-1.rds.amazonaws.com`);
    expect(api.requests.filter((r) => r.path === '/health').length).toBeGreaterThan(0);

    // The report: the scenario, both approvers, the gates' answers, every step with its time, against the 8-hour RTO and the RPO of 0.
    expect(report).toContain('# Recovery report: Contain a security breach');
    expect(report).toContain(`| Run | \`${run.runId}\` (runbook \`contain-breach\`) |`);
    expect(report).toContain('| Outcome | **SUCCEEDED** |');
    expect(report).toContain('| Scenario | Security breach (`security-breach`) |');
    expect(report).toMatch(/\| Requested \| alice \(slack\) at [\d-]+ [\d:]+ UTC \|/);
    expect(report).toMatch(/\| Approved \| bob \(slack\) at [\d-]+ [\d:]+ UTC; carol \(slack\) at [\d-]+ [\d:]+ UTC \|/);
    const steps = reportSteps(report);
    expect([...steps.keys()]).toEqual(STEPS);
    for (const step of steps.values()) expect(step).toEqual({ state: 'succeeded', took: expect.stringMatching(/^\d+(\.\d+)?m?s$/) as unknown });
    expect(report).toMatch(/\| Recovery time \(RTO\) \| \d+(\.\d+)?m?s \| 8h \| within \|/);
    expect(report).toContain('until the health check passed (step `health`');
    // The breach's RPO is 0; no step measures what an attacker may have destroyed, so the report says it is not known rather than claim 0.
    expect(report).toContain('| Data loss (RPO) | not known | 0s (no data loss) | — |');
    expect(report).toContain(`| Incident | \`${incidentId}\` |`);
    expect(report).toMatch(/UTC: carol \(slack\): gate accepted: bot-credentials: /);
    expect(report).toMatch(/UTC: bob \(slack\): gate accepted: reopen: /);
    expect(report).toMatch(new RegExp(`step succeeded: evidence \\([^)]*incident=${incidentId}`));
    expect(report).toMatch(/step succeeded: rotate \([^)]*method=managed-rotation/);
    expect(reportComment).toMatch(/succeeded: recovered in [\d.]+m?s from the request to the health check passing \(RTO 8h: within\)/);

    // The new password (and the old one) nowhere else: not in anything sent to Slack, not in either process's output, not in the report.
    const logs = dr.logs();
    expect(logs).toContain(run.runId);
    for (const secret of [password, OLD_PASSWORD]) {
      for (const [where, text] of [['Slack', sentToSlack()], ['the logs', logs], ['the report', report]] as const) {
        expect(text.includes(secret), `${secret === password ? 'the new' : 'the old'} password in ${where}`).toBe(false);
        expect(text.includes(Buffer.from(secret).toString('base64')), `the base64 of a password in ${where}`).toBe(false);
      }
    }
  });
});
