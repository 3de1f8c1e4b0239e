import {
  GetRoutingControlStateCommand,
  Route53RecoveryClusterClient,
  UpdateRoutingControlStatesCommand,
} from '@aws-sdk/client-route53-recovery-cluster';
import type { AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * ARC routing control (API-FACTS 8.3): the data plane of a Route 53
 * Application Recovery Controller cluster, `route53-recovery-cluster`
 * (awsJson1_0, target prefix ToggleCustomerAPI). A cluster answers on five
 * regional endpoints, each signed for its own region; AWS keeps at least
 * three of them up and asks clients to try them in turn (developer guide,
 * "Getting and updating routing control states using the ARC API"). So every
 * call here goes to one endpoint, and on a connection error, a timeout, a 5xx
 * (503 EndpointTemporarilyUnavailable: "try another cluster endpoint") or
 * throttling, to the next one; each endpoint is asked once per call (its
 * client makes one attempt), starting from the one that answered last.
 */

export type RoutingControlState = 'On' | 'Off';

export interface ClusterEndpoint {
  /** The endpoint's region: its requests are signed for it. */
  region: string;
  url: string;
}

/** A routing control ARN: `arn:aws:route53-recovery-control::<account>:controlpanel/<id>/routingcontrol/<id>`. */
export const ROUTING_CONTROL_ARN = /^arn:aws(-[a-z]+)*:route53-recovery-control::\d{12}:controlpanel\/[A-Za-z0-9]{1,64}\/routingcontrol\/[A-Za-z0-9]{1,64}$/;
/** A safety rule ARN: `arn:aws:route53-recovery-control::<account>:controlpanel/<id>/safetyrule/<id>`. */
export const SAFETY_RULE_ARN = /^arn:aws(-[a-z]+)*:route53-recovery-control::\d{12}:controlpanel\/[A-Za-z0-9]{1,64}\/safetyrule\/[A-Za-z0-9]{1,64}$/;
const SAFETY_RULE_IN_TEXT = /arn:aws(?:-[a-z]+)*:route53-recovery-control::\d{12}:controlpanel\/[A-Za-z0-9]{1,64}\/safetyrule\/[A-Za-z0-9]{1,64}/g;

/** How long one endpoint is given to answer before the next is tried. */
const ATTEMPT_TIMEOUT_MS = 10_000;

/** A refusal or failure of the routing control API, in words a person can act on. */
export class RoutingControlError extends Error {
  /** The error type (`ConflictException`, `ResourceNotFoundException`, `Unreachable` when no endpoint answered). */
  readonly code: string;
  /** Retrying cannot help (bad input, access denied, a safety rule): the step fails at once. */
  readonly permanent: boolean;
  /** The safety rules AWS named as refusing the change. */
  readonly safetyRules: readonly string[];

  constructor(message: string, details: { code: string; permanent: boolean; safetyRules?: readonly string[] }) {
    super(message);
    this.name = 'RoutingControlError';
    this.code = details.code;
    this.permanent = details.permanent;
    this.safetyRules = details.safetyRules ?? [];
  }
}

export interface ArcRoutingControlOptions {
  endpoints: readonly ClusterEndpoint[];
  credentials: AwsCredentialIdentityProvider;
  /** How long one endpoint is given (10 s unless set). */
  attemptTimeoutMs?: number;
}

export interface ControlReading {
  state: RoutingControlState;
  name?: string | undefined;
}

type Operation = 'GetRoutingControlState' | 'UpdateRoutingControlStates';

/** What an endpoint's failure means for the call: try the next endpoint, or stop with this error. */
type Outcome = { next: string } | { stop: RoutingControlError };

export class ArcRoutingControlClient {
  private readonly clients: { endpoint: ClusterEndpoint; client: Route53RecoveryClusterClient }[];
  private readonly attemptTimeoutMs: number;
  /** The endpoint that answered last: the next call starts there. */
  private preferred = 0;

  constructor(options: ArcRoutingControlOptions) {
    if (options.endpoints.length === 0) throw new Error('an ARC cluster needs at least one endpoint');
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS;
    this.clients = options.endpoints.map((endpoint) => ({
      endpoint,
      client: new Route53RecoveryClusterClient({
        region: endpoint.region,
        endpoint: endpoint.url,
        credentials: options.credentials,
        // One attempt per endpoint: the next endpoint is the retry, as AWS asks.
        maxAttempts: 1,
        ignoreConfiguredEndpointUrls: true,
      }),
    }));
  }

  endpoints(): ClusterEndpoint[] {
    return this.clients.map((c) => c.endpoint);
  }

  /** Each control's state, all read through one endpoint (the first that answers). */
  async getStates(arns: readonly string[], signal?: AbortSignal): Promise<{ states: Map<string, ControlReading>; endpoint: ClusterEndpoint }> {
    return this.rotate('GetRoutingControlState', arns.join(', '), signal, async (client, attempt) => {
      const states = new Map<string, ControlReading>();
      for (const arn of arns) {
        const out = await client.send(new GetRoutingControlStateCommand({ RoutingControlArn: arn }), { abortSignal: attempt });
        if (out.RoutingControlState !== 'On' && out.RoutingControlState !== 'Off') throw new Error(`routing control ${arn} answered state ${String(out.RoutingControlState)}, neither On nor Off`);
        states.set(arn, { state: out.RoutingControlState, name: out.RoutingControlName });
      }
      return states;
    }).then(({ value, endpoint }) => ({ states: value, endpoint }));
  }

  /**
   * Sets every control in one UpdateRoutingControlStates call, so the
   * cluster's safety rules judge the change as a whole; `safetyRulesToOverride`
   * are rules it may break (break glass). Setting a control to the state it
   * has is harmless, so a call repeated on another endpoint after a lost answer is too.
   */
  async updateStates(entries: readonly { arn: string; state: RoutingControlState }[], safetyRulesToOverride: readonly string[], signal?: AbortSignal): Promise<{ endpoint: ClusterEndpoint }> {
    const input = {
      UpdateRoutingControlStateEntries: entries.map((e) => ({ RoutingControlArn: e.arn, RoutingControlState: e.state })),
      ...(safetyRulesToOverride.length > 0 ? { SafetyRulesToOverride: [...safetyRulesToOverride] } : {}),
    };
    const { endpoint } = await this.rotate('UpdateRoutingControlStates', entries.map((e) => e.arn).join(', '), signal, (client, attempt) =>
      client.send(new UpdateRoutingControlStatesCommand(input), { abortSignal: attempt }),
    );
    return { endpoint };
  }

  /** Calls `fn` on each endpoint in turn, from the preferred one, until one answers or an answer says stop. */
  private async rotate<T>(operation: Operation, about: string, signal: AbortSignal | undefined, fn: (client: Route53RecoveryClusterClient, attempt: AbortSignal) => Promise<T>): Promise<{ value: T; endpoint: ClusterEndpoint }> {
    const failures: string[] = [];
    for (let i = 0; i < this.clients.length; i++) {
      const index = (this.preferred + i) % this.clients.length;
      const { endpoint, client } = this.clients[index] as (typeof this.clients)[number];
      const timeout = AbortSignal.timeout(this.attemptTimeoutMs);
      try {
        const value = await fn(client, signal ? AbortSignal.any([signal, timeout]) : timeout);
        this.preferred = index;
        return { value, endpoint };
      } catch (err) {
        if (signal?.aborted) throw err;
        const outcome = outcomeOf(operation, about, endpoint, err, timeout.aborted, this.attemptTimeoutMs);
        if ('stop' in outcome) {
          // A refusal is an answer: this endpoint is up.
          this.preferred = index;
          throw outcome.stop;
        }
        failures.push(`${endpoint.region} (${endpoint.url}): ${outcome.next}`);
      }
    }
    throw new RoutingControlError(
      `no endpoint of the ARC cluster answered ${operation} (${about}); each was tried once: ${failures.join('; ')}. AWS keeps at least three of a cluster's five endpoints up: check the target's arcClusterEndpoints (DescribeCluster's ClusterEndpoints) and the network path to them`,
      { code: 'Unreachable', permanent: false },
    );
  }
}

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The safety rule ARNs a refusal names (AWS: "the error message includes the ARN of the rule that blocked the update"). */
export function safetyRulesIn(text: string): string[] {
  return [...new Set(text.match(SAFETY_RULE_IN_TEXT) ?? [])];
}

function outcomeOf(operation: Operation, about: string, endpoint: ClusterEndpoint, err: unknown, timedOut: boolean, timeoutMs: number): Outcome {
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const said = e.message ?? String(err);
  if (timedOut) return { next: `no answer within ${String(timeoutMs / 1_000)} s` };
  if (status === undefined) return { next: `could not be reached (${e.code ?? e.name ?? 'error'}: ${said})` };
  const code = e.name ?? `HTTP ${String(status)}`;
  const aws = `(${code}: ${said})`;
  if (status >= 500 || status === 429) return { next: `HTTP ${String(status)} ${code}: ${said}` };
  // Which error a safety rule's refusal comes as is not documented: it is known by the rule's ARN in the message.
  const rules = safetyRulesIn(said);
  if (rules.length > 0 && (status === 409 || status === 400)) {
    return {
      stop: new RoutingControlError(`ARC safety rule ${rules.join(', ')} refused ${operation} on ${about}: ${said}. AWS applies such a change whole or not at all, so no routing control was changed`, {
        code,
        permanent: true,
        safetyRules: rules,
      }),
    };
  }
  if (code === 'ConflictException') {
    // "There was a conflict with this request. Try again.": another change under way.
    return { stop: new RoutingControlError(`the ARC cluster answered ${operation} on ${about} with a conflict; it is tried again ${aws}`, { code, permanent: false }) };
  }
  if (code === 'ResourceNotFoundException') {
    return { stop: new RoutingControlError(`a routing control of ${about} is not in the ARC cluster reached through ${endpoint.region}: check its ARN against the control panel (and the target's arcClusterEndpoints: the cluster that hosts it) ${aws}`, { code, permanent: true }) };
  }
  if (code === 'AccessDeniedException' || status === 403) {
    return { stop: new RoutingControlError(`the target's credentials may not call route53-recovery-cluster:${operation} on ${about} (deploy/iam-policy.json grants it) ${aws}`, { code, permanent: true }) };
  }
  if (code === 'ServiceLimitExceededException') {
    return { stop: new RoutingControlError(`the ARC cluster refused to set that many routing controls in one call (${about}); give fewer ${aws}`, { code, permanent: true }) };
  }
  return { stop: new RoutingControlError(`the ARC cluster refused ${operation} on ${about} through ${endpoint.region} ${aws}`, { code, permanent: true }) };
}
