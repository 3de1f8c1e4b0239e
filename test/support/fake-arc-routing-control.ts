/**
 * A loopback ARC routing control cluster (route53-recovery-cluster,
 * awsJson1_0, API-FACTS 8.3): five regional endpoints, each its own server,
 * sharing one set of routing controls and safety rules, as strict as AWS:
 * - each request signed with SigV4 for `route53-recovery-cluster` in the
 *   endpoint's own region (aws-sigv4.ts), POSTed to the endpoint's path
 *   (`/v1/`), and checked against the published model (aws-sdk v2's
 *   route53-recovery-cluster-2019-12-02 plus botocore's constraints: ARN
 *   pattern and length, On/Off);
 * - an unknown routing control is ResourceNotFoundException (404, with
 *   resourceId and resourceType), and an update naming one changes nothing;
 * - safety rules as the control-config API defines them (RuleConfig Type
 *   ATLEAST|AND|OR, Threshold, Inverted): an assertion rule must hold on its
 *   asserted controls after a change that touches any of them; a gating rule
 *   must hold on its gating controls before a change of any of its target
 *   controls. A rule named in SafetyRulesToOverride is not judged. A refusal
 *   names the rule's ARN in its message, as the developer guide says; which
 *   error type AWS uses is not documented, so `safetyRuleRefusal` picks it
 *   (ConflictException by default). An update is applied whole or not at all.
 *   The rules' wait periods are not modelled.
 * An endpoint can be taken down: `outage` answers every request with 503
 * EndpointTemporarilyUnavailableException (or 500, or no answer at all),
 * `refuseConnections()` closes its port.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsJsonError, AwsJsonFake, type AwsJsonCall, type JsonProtocol } from './aws-json-fake.ts';
import type { FakeSts } from './fake-sts.ts';

export type ControlState = 'On' | 'Off';

/** A rule's configuration, as CreateSafetyRule takes it. */
export interface RuleConfig {
  type: 'ATLEAST' | 'AND' | 'OR';
  /** For ATLEAST: how many controls must be On. */
  threshold: number;
  inverted: boolean;
}

export type SafetyRule =
  | { kind: 'assertion'; arn: string; name: string; assertedControls: string[]; config: RuleConfig }
  | { kind: 'gating'; arn: string; name: string; gatingControls: string[]; targetControls: string[]; config: RuleConfig };

export type Outage = 'unavailable' | 'internal' | 'no-answer';

/** The five regions an ARC cluster has endpoints in. */
export const CLUSTER_REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-northeast-1', 'ap-southeast-2'] as const;

const PATH = '/v1';

/** A routing control ARN of a control panel of account 111122223333. */
export function routingControlArn(panel: string, id: string): string {
  return `arn:aws:route53-recovery-control::111122223333:controlpanel/${panel}/routingcontrol/${id}`;
}

export function safetyRuleArn(panel: string, id: string): string {
  return `arn:aws:route53-recovery-control::111122223333:controlpanel/${panel}/safetyrule/${id}`;
}

export class FakeArcRoutingControlCluster {
  readonly endpoints: FakeClusterEndpoint[];
  readonly controls = new Map<string, { name: string; state: ControlState }>();
  readonly rules = new Map<string, SafetyRule>();
  /** The error type a safety rule's refusal comes as (AWS does not document it). */
  safetyRuleRefusal: 'ConflictException' | 'ValidationException' = 'ConflictException';
  /** Updates applied, in order, with the endpoint's region. */
  readonly updates: { region: string; entries: { arn: string; state: ControlState }[]; overridden: string[] }[] = [];
  /** Called after each applied update: a test's stand-in for someone else changing controls right after. */
  onUpdated: (() => void) | undefined;

  constructor(regions: readonly string[] = CLUSTER_REGIONS) {
    this.endpoints = regions.map((region) => new FakeClusterEndpoint(this, region));
  }

  async start(): Promise<this> {
    for (const e of this.endpoints) await e.start();
    return this;
  }

  async stop(): Promise<void> {
    for (const e of this.endpoints) await e.stop();
  }

  /** What a target's `arcClusterEndpoints` lists for this cluster. */
  endpointConfig(): { region: string; url: string }[] {
    return this.endpoints.map((e) => ({ region: e.region, url: `${e.url}${PATH}` }));
  }

  endpoint(region: string): FakeClusterEndpoint {
    const found = this.endpoints.find((e) => e.region === region);
    if (!found) throw new Error(`the fake cluster has no endpoint in ${region}`);
    return found;
  }

  trustSessionsFrom(sts: FakeSts): this {
    for (const e of this.endpoints) e.trustSessionsFrom(sts);
    return this;
  }

  knowSecret(accessKeyId: string, secret: string): this {
    for (const e of this.endpoints) e.knownSecrets.set(accessKeyId, secret);
    return this;
  }

  addControl(arn: string, name: string, state: ControlState = 'Off'): this {
    this.controls.set(arn, { name, state });
    return this;
  }

  addRule(rule: SafetyRule): this {
    this.rules.set(rule.arn, rule);
    return this;
  }

  stateOf(arn: string): ControlState | undefined {
    return this.controls.get(arn)?.state;
  }

  /** The successful calls of `operation` on every endpoint, with the region that answered. */
  callsTo(operation: string): (AwsJsonCall & { endpoint: string })[] {
    return this.endpoints.flatMap((e) => e.callsTo(operation).filter((c) => c.error === undefined).map((c) => ({ ...c, endpoint: e.region })));
  }

  /** Every request each endpoint received, by region (outages included). */
  requestsByRegion(): Record<string, number> {
    return Object.fromEntries(this.endpoints.map((e) => [e.region, e.calls.length + e.outageAnswers]));
  }

  answer(region: string, operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'GetRoutingControlState': {
        const arn = String(input.RoutingControlArn);
        const control = this.control(arn);
        return { RoutingControlArn: arn, RoutingControlState: control.state, RoutingControlName: control.name };
      }
      case 'UpdateRoutingControlStates': {
        const entries = (input.UpdateRoutingControlStateEntries as { RoutingControlArn: string; RoutingControlState: ControlState }[]).map((e) => ({ arn: e.RoutingControlArn, state: e.RoutingControlState }));
        const overridden = (input.SafetyRulesToOverride as string[] | undefined) ?? [];
        this.update(entries, overridden);
        this.updates.push({ region, entries, overridden });
        return {};
      }
      case 'UpdateRoutingControlState': {
        const entries = [{ arn: String(input.RoutingControlArn), state: input.RoutingControlState as ControlState }];
        const overridden = (input.SafetyRulesToOverride as string[] | undefined) ?? [];
        this.update(entries, overridden);
        this.updates.push({ region, entries, overridden });
        return {};
      }
      case 'ListRoutingControls':
        return { RoutingControls: [...this.controls].map(([arn, c]) => ({ RoutingControlArn: arn, RoutingControlName: c.name, RoutingControlState: c.state, ControlPanelArn: arn.replace(/\/routingcontrol\/.*$/, '') })) };
      default:
        throw new AwsJsonError('UnknownOperationException', `Unknown operation ${operation}`);
    }
  }

  private control(arn: string): { name: string; state: ControlState } {
    const control = this.controls.get(arn);
    if (!control) throw new AwsJsonError('ResourceNotFoundException', `Routing control ${arn} was not found.`, 404, { resourceId: arn, resourceType: 'RoutingControl' });
    return control;
  }

  /** Applies the entries whole, or refuses them all: an unknown control, a control named twice, a safety rule that does not hold. */
  private update(entries: { arn: string; state: ControlState }[], overridden: readonly string[]): void {
    for (const e of entries) this.control(e.arn);
    if (new Set(entries.map((e) => e.arn)).size !== entries.length) {
      throw new AwsJsonError('ValidationException', '1 validation error detected: a routing control is named more than once in updateRoutingControlStateEntries', 400, { reason: 'fieldValidationFailed' });
    }
    const before = (arn: string) => this.controls.get(arn)?.state ?? 'Off';
    const after = (arn: string) => entries.find((e) => e.arn === arn)?.state ?? before(arn);
    for (const rule of this.rules.values()) {
      if (overridden.includes(rule.arn)) continue;
      const broken =
        rule.kind === 'assertion'
          ? entries.some((e) => rule.assertedControls.includes(e.arn)) && !holds(rule.config, rule.assertedControls.map(after))
          : entries.some((e) => rule.targetControls.includes(e.arn) && e.state !== before(e.arn)) && !holds(rule.config, rule.gatingControls.map(before));
      if (broken) {
        const what = rule.kind === 'assertion' ? `after the change ${describe(rule.config)} of its asserted controls must be On` : `${describe(rule.config)} of its gating controls must be On to change its target controls`;
        const message = `Cannot update routing control states: safety rule ${rule.arn} (${rule.name}) would be violated: ${what}.`;
        throw this.safetyRuleRefusal === 'ConflictException'
          ? new AwsJsonError('ConflictException', message, 409, { resourceId: rule.arn, resourceType: 'SafetyRule' })
          : new AwsJsonError('ValidationException', message, 400, { reason: 'other' });
      }
    }
    for (const e of entries) this.control(e.arn).state = e.state;
    this.onUpdated?.();
  }
}

function holds(config: RuleConfig, states: readonly ControlState[]): boolean {
  const on = states.filter((s) => s === 'On').length;
  const result = config.type === 'AND' ? on === states.length : config.type === 'OR' ? on >= 1 : on >= config.threshold;
  return config.inverted ? !result : result;
}

function describe(config: RuleConfig): string {
  const base = config.type === 'AND' ? 'all' : config.type === 'OR' ? 'at least one' : `at least ${String(config.threshold)}`;
  return config.inverted ? `NOT ${base}` : base;
}

const PROTOCOL: JsonProtocol = { service: 'route53-recovery-cluster', signingName: 'route53-recovery-cluster', jsonVersion: '1.0' };

/** One regional endpoint of the cluster: answers only requests signed for its region. */
export class FakeClusterEndpoint extends AwsJsonFake {
  readonly region: string;
  /** While set, every request is answered with this outage instead. */
  outage: Outage | undefined;
  /** Requests answered with an outage. */
  outageAnswers = 0;
  protected readonly protocol = PROTOCOL;
  private readonly cluster: FakeArcRoutingControlCluster;

  constructor(cluster: FakeArcRoutingControlCluster, region: string) {
    super();
    this.cluster = cluster;
    this.region = region;
  }

  /** Closes the endpoint's port: connections are refused from now on. */
  async refuseConnections(): Promise<void> {
    await this.stop();
  }

  protected override async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.outage) {
      this.outageAnswers += 1;
      if (this.outage === 'no-answer') return;
      const [status, code] = this.outage === 'unavailable' ? [503, 'EndpointTemporarilyUnavailableException'] : [500, 'InternalServerException'];
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify({ __type: code, message: code === 'InternalServerException' ? 'Internal server error' : 'The cluster endpoint is not available. Try another cluster endpoint.' }));
      return;
    }
    if (req.method !== 'POST' || req.url !== `${PATH}/`) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not Found' }));
      return;
    }
    await super.handle(req, res);
  }

  protected answer(operation: string, input: Record<string, unknown>, ctx: { region: string }): unknown {
    if (ctx.region !== this.region) {
      throw new AwsJsonError('InvalidSignatureException', `Credential should be scoped to a valid region. The endpoint is in '${this.region}', the credential scope names '${ctx.region}'.`);
    }
    return this.cluster.answer(this.region, operation, input);
  }
}
