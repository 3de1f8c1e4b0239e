import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';
import { fileURLToPath } from 'node:url';
import { loadRunbooks, parseRunbook } from '../../../src/runbooks/load.ts';
import { bindParams } from '../../../src/runbooks/params.ts';
import { buildRegistry } from '../../../src/steps/registry.ts';
import { targetsFromConfig } from '../../../src/targets/from-config.ts';

const registry = buildRegistry();
const TARGETS = ['default', 'dr', 'drill'];

function problems(text: string, targets: readonly string[] | undefined = TARGETS): string[] {
  return parseRunbook(text, 'commands/rb.yaml', registry, targets).problems;
}

const RUNBOOK = `id: rb
title: Restore somewhere
params:
  target: { type: target, default: default }
  cluster: { type: string, pattern: '[0-9A-Za-z][A-Za-z0-9_-]{0,99}', default: '' }
  url: { type: string }
target: '\${{ params.target }}'
cluster: '\${{ params.cluster }}'
steps:
  - id: wait-for-it
    use: eks.wait-cluster
  - id: check
    use: http.check
    target: dr
    with: { url: '\${{ params.url }}' }
`;

function configError(env: Record<string, string>): string[] {
  try {
    loadConfig({ env, needsSlack: false });
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('targets in runbooks', () => {
  it('accepts a runbook-level target and cluster from parameters, and a step naming a configured target', () => {
    expect(problems(RUNBOOK)).toEqual([]);
  });

  it('refuses at load a target that is not configured, listing the configured ones, with file and line', () => {
    expect(problems(RUNBOOK.replace('target: dr', 'target: prod-west'))).toEqual(['commands/rb.yaml:14: steps[1] (check).target: no target "prod-west" is configured (targets: default, dr, drill)']);
    expect(problems(RUNBOOK.replace('target: { type: target, default: default }', 'target: { type: target, default: staging }'))).toEqual([
      'commands/rb.yaml:4: params.target.default: no target "staging" is configured (targets: default, dr, drill)',
    ]);
  });

  it('refuses references that are not exactly one parameter of the right type', () => {
    expect(problems(RUNBOOK.replace("target: '${{ params.target }}'", "target: '${{ params.url }}'"))).toEqual(['commands/rb.yaml:7: target: parameter "url" must be of type target, not string']);
    expect(problems(RUNBOOK.replace("target: '${{ params.target }}'", "target: 'x-${{ params.target }}'"))).toEqual(['commands/rb.yaml:7: target: must be a name or exactly ${{ params.<name> }}']);
    expect(problems(RUNBOOK.replace("cluster: '${{ params.cluster }}'", "cluster: '${{ steps.check.outputs.attempts }}'"))).toEqual(['commands/rb.yaml:8: cluster: must be a name or exactly ${{ params.<name> }}']);
    expect(problems(RUNBOOK.replace("cluster: '${{ params.cluster }}'", "cluster: 'not a cluster!'"))).toEqual(['commands/rb.yaml:8: cluster: "not a cluster!" is not an EKS cluster name']);
  });
});

describe('the shipped runbooks', () => {
  it('load on a fresh install (only the target default) and on one with named targets', () => {
    const shipped = fileURLToPath(new URL('../../../commands/', import.meta.url));
    for (const targets of [['default'], ['prod', 'dr', 'drill']]) {
      const runbooks = loadRunbooks(shipped, registry, targets);
      expect(runbooks.get('restore-cluster')?.target).toBe('${{ params.target }}');
      expect(runbooks.get('failover-region')?.params.target).toMatchObject({ type: 'target', default: '' });
    }
  });
});

describe('target parameters', () => {
  const runbook = { id: 'rb', params: { target: { type: 'target' as const }, cluster: { type: 'string' as const, default: '' } } };

  it('takes a configured target, and refuses another with the list', () => {
    expect(bindParams(runbook, { target: 'dr' }, Date.now(), TARGETS)).toEqual({ target: 'dr', cluster: '' });
    expect(() => bindParams(runbook, { target: 'prod' }, Date.now(), TARGETS)).toThrow('`target`: there is no target `prod` (targets: default, dr, drill)');
  });

  it('a string parameter whose default is empty may be left out, but not given empty', () => {
    expect(() => bindParams(runbook, { target: 'dr', cluster: '' }, Date.now(), TARGETS)).toThrow('`cluster`: must not be empty');
  });
});

describe('targets in the config', () => {
  const base = { REDIS_URL: 'redis://127.0.0.1:6379' };

  it('makes today\'s single-target settings the target default, beside the named ones', () => {
    const config = loadConfig({
      env: { ...base, AWS_REGION: 'us-east-1', EKS_CLUSTER_NAME: 'eks-prod', DR_TARGETS: JSON.stringify({ dr: { region: 'us-west-2', roleArn: 'arn:aws:iam::222222222222:role/dr-chatops-target', kubernetes: { eksCluster: 'eks-dr' } } }) },
      needsSlack: false,
    });
    const targets = targetsFromConfig(config);
    expect(targets.names()).toEqual(['default', 'dr']);
    expect(targets.view('default')).toMatchObject({ name: 'default', region: 'us-east-1', eksCluster: 'eks-prod', veleroNamespace: 'velero' });
    expect(targets.view('dr')).toMatchObject({ region: 'us-west-2', account: '222222222222', cluster: 'EKS eks-dr' });
    expect(targets.view('dr', 'eks-prod-2')).toMatchObject({ cluster: 'EKS eks-prod-2', eksCluster: 'eks-prod-2' });
    expect(() => targets.spec('prod')).toThrow('There is no target `prod`. Targets: `default`, `dr`.');
  });

  it('names each problem of a target by the setting and where in it', () => {
    expect(configError({ ...base, DR_TARGETS: JSON.stringify({ dr: { region: 'west', kubernetes: { eksCluster: 'eks-dr', context: 'x' } } }) })).toEqual([
      'DR_TARGETS dr.region: must be an AWS region like us-west-2',
      'DR_TARGETS dr.kubernetes: must be one of { eksCluster: <name> }, { context: <name>, kubeconfig?: <path> }, { kubeconfig: <path> } or { inCluster: true }',
    ]);
    expect(configError({ ...base, DR_DEFAULT_TARGET: 'dr', DR_TARGETS: JSON.stringify({ dr: { kubernetes: { eksCluster: 'eks-dr' } } }) })).toEqual(['DR_TARGETS dr.region: is required: an AWS region like us-west-2']);
    expect(configError({ ...base, DR_TARGETS: JSON.stringify({ Prod: { region: 'us-east-1' } }) })).toEqual([
      'DR_TARGETS Prod: target names are lower-case letters, digits and -, starting with a letter (at most 31)',
    ]);
    expect(configError({ ...base, DR_TARGETS: '{not json' })).toEqual(['DR_TARGETS: must be JSON: {"dr": {"region": "us-west-2", "kubernetes": {"eksCluster": "eks-dr"}}}']);
    expect(configError({ ...base, DR_DEFAULT_TARGET: 'dr', DR_TARGETS: JSON.stringify({ dr: { region: 'us-west-2', account: '333333333333', roleArn: 'arn:aws:iam::222222222222:role/x', externalId: 'ok-id' } }) })).toEqual([
      'DR_TARGETS dr.account: is 333333333333 but roleArn is in account 222222222222',
    ]);
    expect(configError({ ...base, DR_DEFAULT_TARGET: 'dr' })).toEqual(['DR_DEFAULT_TARGET: names no configured target: set it to one of default']);
    // Targets configured and none of today's settings: there is no target `default`, so the default must be named.
    expect(configError({ ...base, DR_TARGETS: JSON.stringify({ prod: { region: 'us-east-1' } }) })).toEqual(['DR_DEFAULT_TARGET: names no configured target: set it to one of prod']);
    expect(targetsFromConfig(loadConfig({ env: { ...base, DR_TARGETS: JSON.stringify({ prod: { region: 'us-east-1' } }), DR_DEFAULT_TARGET: 'prod' }, needsSlack: false })).names()).toEqual(['prod']);
  });
});
