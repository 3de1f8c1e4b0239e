import type { Config } from '../config/schema.ts';
import { type ScenarioTargets, scenarioTargets } from '../incidents/scenarios.ts';
import { stepLimitsFrom } from '../steps/limits.ts';
import { buildRegistry, type StepRegistry } from '../steps/registry.ts';
import { targetsFromConfig } from '../targets/from-config.ts';
import type { Targets } from '../targets/targets.ts';
import { loadRunbooks, type RunbookSet } from './load.ts';

/** What every role (bot, worker, CLI) needs to plan and run recovery, made from the config. */
export interface Recovery {
  /** The scenarios' RTO/RPO in force. */
  objectives: ScenarioTargets;
  targets: Targets;
  registry: StepRegistry;
  runbooks: RunbookSet;
}

/**
 * Builds the step registry and the targets and loads the runbooks, checked
 * against both: a bad file or an unknown target stops the start with its line,
 * before anything connects. Throws RunbookLoadError or the config's own error.
 */
export function loadRecovery(config: Config): Recovery {
  const objectives = scenarioTargets(config.incidents.targets);
  const targets = targetsFromConfig(config);
  const registry = buildRegistry(objectives, stepLimitsFrom(config));
  const runbooks = loadRunbooks(config.paths.commandsDir, registry, targets.names());
  return { objectives, targets, registry, runbooks };
}
