import type { Config } from '../config/schema.ts';
import { DEFAULT_OUTBOUND, type OutboundPolicy } from './builtin/outbound.ts';
import { DEFAULT_KUBE_SCOPE, type KubeScope, kubeScope } from './kube/scope.ts';

/** What steps may reach and change, whatever a runbook or its parameters say (docs/security.md). */
export interface StepLimits {
  readonly outbound: OutboundPolicy;
  readonly kubernetes: KubeScope;
}

export const DEFAULT_LIMITS: StepLimits = { outbound: DEFAULT_OUTBOUND, kubernetes: DEFAULT_KUBE_SCOPE };

/** The limits the settings ask for. */
export function stepLimitsFrom(config: Config): StepLimits {
  return { outbound: outboundFrom(config), kubernetes: kubeScope(config.kubernetes) };
}

/**
 * `HTTP_ALLOWED_TARGETS`, and the ports this process listens on: `PORT` and
 * `METRICS_PORT`. Port 0 (a free port picked at start, in tests) names no port
 * and is left out.
 */
function outboundFrom(config: Config): OutboundPolicy {
  const ownPorts = [config.port, config.metricsPort].filter((p) => p > 0);
  return { allow: config.http.allow, ownPorts: [...new Set(ownPorts)] };
}
