import { httpCheckStep } from './builtin/http-check.ts';
import { httpRequestStep } from './builtin/http-request.ts';
import { reportRpoStep } from './builtin/report-rpo.ts';
import { reportRtoStep } from './builtin/report-rto.ts';
import { type ScenarioTargets, scenarioTargets } from '../incidents/scenarios.ts';
import { waitStep } from './builtin/wait.ts';
import { gateStep } from './builtin/gate.ts';
import { createWriterStep } from './rds/create-writer.ts';
import { deleteRestoredStep } from './rds/delete-restored.ts';
import { pickRecoveryPointStep } from './rds/pick-recovery-point.ts';
import { restorePitrStep } from './rds/restore-pitr.ts';
import { restoreSnapshotStep } from './rds/restore-snapshot.ts';
import { rolloutRestartStep, rolloutStatusStep, rolloutUndoStep } from './kube/rollout.ts';
import { updateSecretStep } from './kube/update-secret.ts';
import { scaleNodegroupStep } from './eks/scale-nodegroup.ts';
import { deleteNamespaceStep, verifyPodsStep } from './kube/namespace.ts';
import { verifyOutsideZoneStep } from './kube/outside-zone.ts';
import { verifyWorkloadsStep } from './kube/verify.ts';
import { failoverStep } from './rds/failover.ts';
import { readinessChecklistStep } from './readiness/checklist.ts';
import { readinessSummaryStep } from './readiness/summary.ts';
import type { Step } from './types.ts';
import { DEFAULT_LIMITS, type StepLimits } from './limits.ts';
import { veleroRestoreStep } from './velero/restore.ts';
import { veleroCheckStep } from './velero/check.ts';
import { sqlCheckStep } from './sql/check.ts';
import { waitClusterStep } from './eks/wait-cluster.ts';
import { cordonZoneStep, uncordonZoneStep } from './kube/zone.ts';
import { drainZoneStep } from './kube/drain.ts';
import { isolateNamespaceStep, liftIsolationStep } from './kube/isolate.ts';
import { scaleRestoreStep, scaleToZeroStep } from './kube/scale.ts';
import { failoverInRegionStep } from './rds/failover-in-region.ts';
import { cancelZonalShiftStep, extendZonalShiftStep } from './arc/extend-cancel.ts';
import { zonalShiftStep } from './arc/zonal-shift.ts';
import { setRoutingControlsStep } from './arc/routing-controls.ts';
import { verifyFailoverStep } from './dns/verify-failover.ts';
import { snapshotEvidenceStep } from './rds/evidence.ts';
import { rotateMasterPasswordStep } from './rds/rotate-password.ts';

/** Every step a runbook may `use:`, by id. */
export type StepRegistry = ReadonlyMap<string, Step>;

/**
 * The steps hold no clients: each reaches its target through its context
 * (ctx.aws, ctx.kube), so one registry serves every target and run.
 */
export function buildRegistry(targets: ScenarioTargets = scenarioTargets(), limits: StepLimits = DEFAULT_LIMITS): StepRegistry {
  const steps: Step[] = [
    waitStep,
    gateStep,
    httpCheckStep(limits.outbound),
    httpRequestStep(limits.outbound),
    reportRtoStep(targets),
    reportRpoStep,
    restorePitrStep(),
    restoreSnapshotStep(),
    createWriterStep(),
    pickRecoveryPointStep(),
    deleteRestoredStep(),
    updateSecretStep(limits.kubernetes),
    rolloutRestartStep(limits.kubernetes),
    rolloutStatusStep(limits.kubernetes),
    rolloutUndoStep(limits.kubernetes),
    verifyPodsStep(limits.kubernetes),
    verifyWorkloadsStep(limits.kubernetes),
    deleteNamespaceStep(limits.kubernetes),
    veleroRestoreStep(limits.kubernetes),
    readinessChecklistStep(),
    readinessSummaryStep(targets),
    failoverStep(),
    scaleNodegroupStep(),
    waitClusterStep(),
    veleroCheckStep(),
    sqlCheckStep(limits.kubernetes),
    cordonZoneStep(),
    verifyOutsideZoneStep(limits.kubernetes),
    uncordonZoneStep(),
    drainZoneStep(limits.kubernetes),
    isolateNamespaceStep(limits.kubernetes),
    liftIsolationStep(limits.kubernetes),
    scaleToZeroStep(limits.kubernetes),
    scaleRestoreStep(limits.kubernetes),
    failoverInRegionStep(),
    zonalShiftStep(),
    extendZonalShiftStep(),
    cancelZonalShiftStep(),
    verifyFailoverStep(),
    setRoutingControlsStep(),
    snapshotEvidenceStep(),
    rotateMasterPasswordStep(limits.kubernetes),
  ];
  return new Map(steps.map((s) => [s.id, s]));
}
