/**
 * ARC routing control against the loopback cluster (five regional endpoints
 * sharing one state): the client's turn through the endpoints, and the step
 * arc.set-routing-controls (plan, run, safety rules, read-back), with the
 * real @aws-sdk/client-route53-recovery-cluster the bot uses.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setRoutingControlsStep } from '../../../src/steps/arc/routing-controls.ts';
import { buildRegistry } from '../../../src/steps/registry.ts';
import { isPermanent } from '../../../src/steps/types.ts';
import { ArcRoutingControlClient } from '../../../src/targets/arc-routing-control.ts';
import { Targets } from '../../../src/targets/targets.ts';
import { BOT } from '../../support/aws-test-clients.ts';
import { FakeArcRoutingControlCluster, routingControlArn, safetyRuleArn } from '../../support/fake-arc-routing-control.ts';
import { failureOf, planContext, stepContext, withClients } from '../../support/step-context.ts';

const PANEL = 'abcdef0123456789abcdef0123456789';
const EAST = routingControlArn(PANEL, 'east0123456789ab');
const WEST = routingControlArn(PANEL, 'west0123456789ab');
const GATE = routingControlArn(PANEL, 'gate0123456789ab');
const AT_LEAST_ONE = safetyRuleArn(PANEL, 'atleast1cell0001');
const GATED = safetyRuleArn(PANEL, 'gatedchange00001');

async function errorOf(call: Promise<unknown>): Promise<Error & { permanent?: boolean; safetyRules?: string[] }> {
  try {
    await call;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

describe('ARC routing control: five endpoints tried in turn, safety rules, read-back', () => {
  let cluster: FakeArcRoutingControlCluster;
  let targets: Targets;

  beforeEach(async () => {
    cluster = await new FakeArcRoutingControlCluster().start();
    cluster.knowSecret(BOT.accessKeyId, BOT.secretAccessKey);
    cluster.addControl(EAST, 'cell-us-east-1', 'On').addControl(WEST, 'cell-us-west-2', 'Off').addControl(GATE, 'failover-allowed', 'On');
    cluster.addRule({ kind: 'assertion', arn: AT_LEAST_ONE, name: 'at-least-one-cell', assertedControls: [EAST, WEST], config: { type: 'ATLEAST', threshold: 1, inverted: false } });
    cluster.addRule({ kind: 'gating', arn: GATED, name: 'failover-needs-gate', gatingControls: [GATE], targetControls: [EAST, WEST], config: { type: 'OR', threshold: 1, inverted: false } });
    targets = new Targets(new Map([['dr', { region: 'us-west-2', endpoints: {}, rdsEndpoints: {}, veleroNamespace: 'velero', arcClusterEndpoints: cluster.endpointConfig() }]]), 'dr', {
      credentials: () => Promise.resolve(BOT),
    });
  });
  afterEach(async () => {
    await cluster.stop();
  });

  const client = (attemptTimeoutMs?: number) => new ArcRoutingControlClient({ endpoints: cluster.endpointConfig(), credentials: () => Promise.resolve(BOT), ...(attemptTimeoutMs ? { attemptTimeoutMs } : {}) });
  const step = () => withClients(setRoutingControlsStep(), targets.access('dr', 'rtest001'));
  const params = (over: Record<string, unknown> = {}) => setRoutingControlsStep().params.parse({ controls: `${EAST}=Off,${WEST}=On`, ...over });

  describe('the client', () => {
    it('with the first endpoint refusing connections, the next one answers, and later calls start there', async () => {
      await cluster.endpoint('us-east-1').refuseConnections();
      const arc = client();
      const first = await arc.getStates([EAST, WEST]);
      expect(first.endpoint.region).toBe('us-west-2');
      expect(Object.fromEntries([...first.states].map(([arn, r]) => [arn, r]))).toEqual({ [EAST]: { state: 'On', name: 'cell-us-east-1' }, [WEST]: { state: 'Off', name: 'cell-us-west-2' } });
      const update = await arc.updateStates([{ arn: WEST, state: 'On' }], []);
      expect(update.endpoint.region).toBe('us-west-2');
      expect(cluster.stateOf(WEST)).toBe('On');
      // Signed for each endpoint's own region: us-west-2 answered, nobody else was asked.
      expect(cluster.callsTo('GetRoutingControlState').map((c) => [c.endpoint, c.region])).toEqual([['us-west-2', 'us-west-2'], ['us-west-2', 'us-west-2']]);
      expect(cluster.updates.map((u) => u.region)).toEqual(['us-west-2']);
    });

    it('moves on at a 503, a 500 or no answer within its time, asking each endpoint once', async () => {
      cluster.endpoint('us-east-1').outage = 'unavailable';
      cluster.endpoint('us-west-2').outage = 'internal';
      cluster.endpoint('eu-west-1').outage = 'no-answer';
      const { endpoint } = await client(300).updateStates([{ arn: EAST, state: 'Off' }, { arn: WEST, state: 'On' }], []);
      expect(endpoint.region).toBe('ap-northeast-1');
      expect([cluster.stateOf(EAST), cluster.stateOf(WEST)]).toEqual(['Off', 'On']);
      expect(cluster.requestsByRegion()).toEqual({ 'us-east-1': 1, 'us-west-2': 1, 'eu-west-1': 1, 'ap-northeast-1': 1, 'ap-southeast-2': 0 });
    });

    it('with every endpoint down, fails saying what each one did, and may be tried again later', async () => {
      await cluster.endpoint('us-east-1').refuseConnections();
      cluster.endpoint('us-west-2').outage = 'unavailable';
      cluster.endpoint('eu-west-1').outage = 'internal';
      cluster.endpoint('ap-northeast-1').outage = 'no-answer';
      cluster.endpoint('ap-southeast-2').outage = 'unavailable';
      const err = await errorOf(client(300).getStates([EAST]));
      expect(err.message).toContain('no endpoint of the ARC cluster answered GetRoutingControlState');
      expect(err.message).toMatch(/us-east-1 \(http:\/\/127\.0\.0\.1:\d+\/v1\): could not be reached \(ECONNREFUSED/);
      expect(err.message).toContain('us-west-2 (');
      expect(err.message).toContain('HTTP 503 EndpointTemporarilyUnavailableException');
      expect(err.message).toContain('eu-west-1 (');
      expect(err.message).toContain('HTTP 500 InternalServerException');
      expect(err.message).toContain('ap-northeast-1 (');
      expect(err.message).toContain('no answer within 0.3 s');
      expect(err.message).toContain('ap-southeast-2 (');
      expect(isPermanent(err)).toBe(false);
      expect(cluster.requestsByRegion()).toEqual({ 'us-east-1': 0, 'us-west-2': 1, 'eu-west-1': 1, 'ap-northeast-1': 1, 'ap-southeast-2': 1 });
    });

    it('an endpoint signed for another region refuses, and so does an unknown control: answers, not outages', async () => {
      const [east, west] = cluster.endpointConfig();
      const crossed = new ArcRoutingControlClient({ endpoints: [{ region: 'us-east-1', url: west?.url ?? '' }, east ?? { region: '', url: '' }], credentials: () => Promise.resolve(BOT) });
      const signed = await errorOf(crossed.getStates([EAST]));
      expect(signed.message).toContain('InvalidSignatureException');
      expect(isPermanent(signed)).toBe(true);

      const unknown = routingControlArn(PANEL, 'nope0123456789ab');
      const missing = await errorOf(client().updateStates([{ arn: WEST, state: 'On' }, { arn: unknown, state: 'Off' }], []));
      expect(missing.message).toContain('is not in the ARC cluster');
      expect(missing.message).toContain('ResourceNotFoundException');
      expect(isPermanent(missing)).toBe(true);
      // Nothing of the update applied.
      expect(cluster.stateOf(WEST)).toBe('Off');
    });
  });

  describe('arc.set-routing-controls', () => {
    it('is registered; its plan reads the states and says what changes, sending no change', async () => {
      expect(buildRegistry().get('arc.set-routing-controls')?.outputs).toEqual(['endpoint', 'states', 'changed']);
      const lines = await step().plan(planContext(), params({ controls: `${EAST}=Off ${WEST}=on ${GATE}=On` }));
      expect(lines.map((l) => [l.action, l.resource, l.detail])).toEqual([
        ['change', `routing control cell-us-east-1 (${EAST})`, 'On → Off: traffic stops flowing to its cell'],
        ['change', `routing control cell-us-west-2 (${WEST})`, 'Off → On: traffic flows to its cell'],
        ['check', `routing control failover-allowed (${GATE})`, 'already On: nothing to change'],
        ['check', 'ARC cluster', "states read through its us-east-1 endpoint; all 3 controls are set in one call, which the cluster's safety rules judge whole, then read back"],
      ]);
      expect(cluster.updates).toEqual([]);
    });

    it('with no controls given does nothing, and its plan says so', async () => {
      const none = setRoutingControlsStep().params.parse({ controls: '' });
      expect(await step().plan(planContext(), none)).toEqual([{ action: 'check', resource: 'ARC routing controls', detail: 'routing controls not set (none given): this step changes nothing' }]);
      // A target without a cluster is fine then: nothing asks for one.
      const bare = new Targets(new Map([['dr', { region: 'us-west-2', endpoints: {}, rdsEndpoints: {}, veleroNamespace: 'velero' }]]), 'dr', { credentials: () => Promise.resolve(BOT) });
      expect(await withClients(setRoutingControlsStep(), bare.access('dr', 'rtest001')).run(stepContext(), none)).toEqual({ endpoint: '', states: '', changed: 0 });
      expect(cluster.requestsByRegion()).toEqual({ 'us-east-1': 0, 'us-west-2': 0, 'eu-west-1': 0, 'ap-northeast-1': 0, 'ap-southeast-2': 0 });
      // Controls on a target that names no cluster: refused before anything is sent, saying how to configure it.
      const failure = await errorOf(withClients(setRoutingControlsStep(), bare.access('dr', 'rtest001')).plan(planContext(), params()));
      expect(failure.message).toContain('Target `dr` names no ARC cluster: give it arcClusterEndpoints');
    });

    it('sets every control in one call, reads them back, and a second run changes nothing', async () => {
      const ctx = stepContext();
      const out = await step().run(ctx, params());
      expect(out).toEqual({ endpoint: 'us-east-1', states: `${EAST}=Off,${WEST}=On`, changed: 2 });
      expect(cluster.updates).toEqual([{ region: 'us-east-1', entries: [{ arn: EAST, state: 'Off' }, { arn: WEST, state: 'On' }], overridden: [] }]);
      expect([cluster.stateOf(EAST), cluster.stateOf(WEST)]).toEqual(['Off', 'On']);

      // Entered again (a crash after the checkpoint): the change is not sent again.
      expect(await step().run(ctx, params())).toMatchObject({ changed: 2 });
      // Another run asking the same: already so, nothing sent.
      expect(await step().run(stepContext({ runId: 'rtest002' }), params())).toMatchObject({ changed: 0, states: `${EAST}=Off,${WEST}=On` });
      expect(cluster.updates).toHaveLength(1);
    });

    it('a safety rule refusing the change fails the step naming the rule, and nothing changes', async () => {
      // Both cells Off: the assertion rule wants at least one On.
      const failure = await failureOf(step().run(stepContext(), params({ controls: `${EAST}=Off,${WEST}=Off` })));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toContain(`routing controls not set: ARC safety rule ${AT_LEAST_ONE} refused UpdateRoutingControlStates`);
      expect(failure.message).toContain('(at-least-one-cell) would be violated: after the change at least 1 of its asserted controls must be On');
      expect(failure.message).toContain('no routing control was changed');
      expect(failure.message).toContain(`safetyRulesToOverride=${AT_LEAST_ONE}`);
      expect([cluster.stateOf(EAST), cluster.stateOf(WEST)]).toEqual(['On', 'Off']);

      // The gate closed: the gating rule refuses any change of the cells, whichever error type AWS sends it as.
      cluster.addControl(GATE, 'failover-allowed', 'Off');
      cluster.safetyRuleRefusal = 'ValidationException';
      const gated = await failureOf(step().run(stepContext({ runId: 'rtest002' }), params()));
      expect(gated.message).toContain(`ARC safety rule ${GATED} refused`);
      expect(gated.message).toContain('failover-needs-gate');
      expect(cluster.updates).toEqual([]);
    });

    it('overrides only the safety rules given, and its plan says so loudly', async () => {
      cluster.addControl(GATE, 'failover-allowed', 'Off');
      const p = params({ safetyRulesToOverride: GATED });
      const lines = await step().plan(planContext(), p);
      expect(lines.at(-1)).toEqual({ action: 'change', resource: 'ARC safety rules', detail: `OVERRIDES ${GATED} for this change (break glass): those rules will not stop it` });
      expect(await step().run(stepContext(), p)).toMatchObject({ changed: 2 });
      expect(cluster.updates.map((u) => u.overridden)).toEqual([[GATED]]);
    });

    it('fails when a control read back does not hold the state set', async () => {
      // Someone flips the west cell back right after the change.
      cluster.onUpdated = () => cluster.addControl(WEST, 'cell-us-west-2', 'Off');
      const failure = await failureOf(step().run(stepContext(), params()));
      expect(failure.permanent).toBe(true);
      expect(failure.message).toContain(`routing controls read back through us-east-1 do not hold the states set: cell-us-west-2 (${WEST}) is Off, not On`);
    });

    it('an unknown control is refused in the plan, before approval', async () => {
      const unknown = routingControlArn(PANEL, 'nope0123456789ab');
      const err = await errorOf(step().plan(planContext(), params({ controls: `${unknown}=On` })));
      expect(err.message).toContain(`a routing control of ${unknown} is not in the ARC cluster`);
      expect(isPermanent(err)).toBe(true);
    });

    it('refuses controls written wrong, saying how to write them', () => {
      const problem = (controls: unknown, overrides?: string) => {
        const r = setRoutingControlsStep().params.safeParse({ controls, ...(overrides ? { safetyRulesToOverride: overrides } : {}) });
        return r.success ? 'accepted' : r.error.issues.map((i) => i.message).join('; ');
      };
      expect(problem(`${EAST}=Off,${WEST}=on`)).toBe('accepted');
      expect(problem([`${EAST}=Off`])).toBe('accepted');
      expect(problem('arn:aws:s3:::bucket=On')).toContain('is not a routing control ARN with its state: write <ARN>=On or <ARN>=Off');
      expect(problem(EAST)).toBe(`${EAST} needs the state to set: append =On or =Off`);
      expect(problem(`${EAST}=Maybe`)).toBe(`${EAST} needs the state to set: append =On or =Off`);
      expect(problem(`${EAST}=On,${EAST}=Off`)).toBe(`${EAST} is given twice: name each routing control once`);
      expect(problem(`${EAST}=On`, 'not-a-rule')).toContain('must be a safety rule ARN');
    });
  });
});
