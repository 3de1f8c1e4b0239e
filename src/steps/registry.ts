import { httpCheckStep } from './builtin/http-check.ts';
import { httpRequestStep } from './builtin/http-request.ts';
import { reportRtoStep } from './builtin/report-rto.ts';
import { type ScenarioTargets, scenarioTargets } from '../incidents/scenarios.ts';
import { waitStep } from './builtin/wait.ts';
import type { StepClients } from './clients.ts';
import { createWriterStep } from './rds/create-writer.ts';
import { restorePitrStep } from './rds/restore-pitr.ts';
import { restoreSnapshotStep } from './rds/restore-snapshot.ts';
import { rolloutRestartStep, rolloutStatusStep, rolloutUndoStep } from './kube/rollout.ts';
import { updateSecretStep } from './kube/update-secret.ts';
import { scaleNodegroupStep } from './eks/scale-nodegroup.ts';
import { deleteNamespaceStep, verifyPodsStep } from './kube/namespace.ts';
import { verifyWorkloadsStep } from './kube/verify.ts';
import { failoverStep } from './rds/failover.ts';
import { readinessCheckStep } from './readiness/check.ts';
import type { Step } from './types.ts';
import { DEFAULT_LIMITS, type StepLimits } from './limits.ts';
import { veleroRestoreStep } from './velero/restore.ts';

/** Every step a runbook may `use:`, by id. */
export type StepRegistry = ReadonlyMap<string, Step>;

/** Clients for a registry used only to check runbooks and plan nothing external. */
const NO_CLIENTS: StepClients = {
  rds: () => {
    throw new Error('no AWS client configured');
  },
  eks: () => {
    throw new Error('no AWS client configured');
  },
  kube: () => Promise.reject(new Error('no Kubernetes client configured')),
};

export function buildRegistry(clients: StepClients = NO_CLIENTS, targets: ScenarioTargets = scenarioTargets(), limits: StepLimits = DEFAULT_LIMITS): StepRegistry {
  const steps: Step[] = [
    waitStep,
    httpCheckStep(limits.outbound),
    httpRequestStep(limits.outbound),
    reportRtoStep(targets),
    restorePitrStep(clients.rds),
    restoreSnapshotStep(clients.rds),
    createWriterStep(clients.rds),
    updateSecretStep(clients.kube, limits.kubernetes),
    rolloutRestartStep(clients.kube, limits.kubernetes),
    rolloutStatusStep(clients.kube, limits.kubernetes),
    rolloutUndoStep(clients.kube, limits.kubernetes),
    verifyPodsStep(clients.kube, limits.kubernetes),
    verifyWorkloadsStep(clients.kube, limits.kubernetes),
    deleteNamespaceStep(clients.kube, limits.kubernetes),
    veleroRestoreStep(clients.kube, limits.kubernetes),
    readinessCheckStep(clients.rds, clients.kube),
    failoverStep(clients.rds),
    scaleNodegroupStep(clients.eks, clients.kube),
  ];
  return new Map(steps.map((s) => [s.id, s]));
}
