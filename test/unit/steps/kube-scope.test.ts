import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';
import {
  checkDeployment,
  checkNamespace,
  checkSecret,
  DEFAULT_KUBE_SCOPE,
  enforce,
  globMatch,
  kubeScope,
  type KubeScope,
  type ScopeCheck,
  SYSTEM_NAMESPACES,
} from '../../../src/steps/kube/scope.ts';
import { stepLimitsFrom } from '../../../src/steps/limits.ts';
import { checkRestoreScope } from '../../../src/steps/velero/restore.ts';

const scope = (namespaces: string[], more: Partial<KubeScope> = {}): KubeScope => ({ ...kubeScope({ allowedNamespaces: namespaces }), ...more });
const allowed = (c: ScopeCheck) => c.ok;
const problem = (c: ScopeCheck) => (c.ok ? '' : c.problem);

describe('Kubernetes scope (K8S_ALLOWED_NAMESPACES, K8S_ALLOWED_SECRETS, K8S_ALLOWED_DEPLOYMENTS)', () => {
  it('globs: * matches any run of characters, everything else is literal, / is never crossed', () => {
    expect(globMatch('team-*', 'team-a')).toBe(true);
    expect(globMatch('team-*', 'team-')).toBe(true);
    expect(globMatch('team-*', 'teams-a')).toBe(false);
    expect(globMatch('*-prod', 'billing-prod')).toBe(true);
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('production/*', 'production/api')).toBe(true);
    expect(globMatch('*', 'production/api')).toBe(false);
    expect(globMatch('production', 'production-2')).toBe(false);
  });

  it('the default refuses the system namespaces, even with *, and names the value, the limit and the setting', () => {
    expect(DEFAULT_KUBE_SCOPE.namespaces).toEqual(['*']);
    expect(SYSTEM_NAMESPACES).toEqual(['kube-system', 'kube-public', 'kube-node-lease', 'velero', 'dr-chatops']);
    for (const ns of SYSTEM_NAMESPACES) expect(allowed(checkNamespace(DEFAULT_KUBE_SCOPE, ns)), ns).toBe(false);
    expect(problem(checkNamespace(DEFAULT_KUBE_SCOPE, 'kube-system'))).toBe(
      'namespace kube-system is a system namespace, refused by K8S_ALLOWED_NAMESPACES=* (system namespaces: kube-system, kube-public, kube-node-lease, velero, dr-chatops, allowed only when named exactly); to allow it, add kube-system to K8S_ALLOWED_NAMESPACES (kubernetes.allowedNamespaces)',
    );
    expect(checkNamespace(DEFAULT_KUBE_SCOPE, 'production')).toEqual({ ok: true, note: 'K8S_ALLOWED_NAMESPACES=*, system namespaces excluded' });
    expect(allowed(checkNamespace(DEFAULT_KUBE_SCOPE, 'dr-drill-r1234567'))).toBe(true);
    expect(allowed(checkNamespace(DEFAULT_KUBE_SCOPE, 'default'))).toBe(true);
  });

  it('a glob never allows a system namespace; naming it exactly does', () => {
    expect(allowed(checkNamespace(scope(['kube-*']), 'kube-system'))).toBe(false);
    expect(allowed(checkNamespace(scope(['kube-*']), 'kube-apps'))).toBe(true);
    expect(checkNamespace(scope(['production', 'kube-system']), 'kube-system')).toEqual({ ok: true, note: 'system namespace kube-system named in K8S_ALLOWED_NAMESPACES' });
    expect(allowed(checkNamespace(scope(['*', 'kube-system']), 'kube-public'))).toBe(false);
  });

  it('an explicit list replaces the default', () => {
    const s = scope(['production', 'team-*']);
    expect(allowed(checkNamespace(s, 'team-payments'))).toBe(true);
    expect(checkNamespace(s, 'production')).toEqual({ ok: true, note: 'K8S_ALLOWED_NAMESPACES=production,team-*' });
    expect(problem(checkNamespace(s, 'staging'))).toBe(
      'namespace staging is not allowed by K8S_ALLOWED_NAMESPACES=production,team-*; to allow it, add it to K8S_ALLOWED_NAMESPACES (kubernetes.allowedNamespaces)',
    );
    expect(checkNamespace(scope(['a', 'b', 'c', 'd']), 'd')).toEqual({ ok: true, note: 'K8S_ALLOWED_NAMESPACES=a,b,c,… (4 entries)' });
  });

  it('Secrets and deployments: the namespace first, then the name (or namespace/name) against their own list', () => {
    const s = scope(['*'], { secrets: ['database-credentials', 'billing/app-*'], deployments: ['api-*'] });
    expect(checkSecret(s, 'production', 'database-credentials')).toEqual({
      ok: true,
      note: 'K8S_ALLOWED_NAMESPACES=*, system namespaces excluded; K8S_ALLOWED_SECRETS=database-credentials,billing/app-*',
    });
    expect(allowed(checkSecret(s, 'billing', 'app-db'))).toBe(true);
    expect(allowed(checkSecret(s, 'production', 'app-db'))).toBe(false);
    expect(problem(checkSecret(s, 'production', 'tls-cert'))).toBe(
      'secret production/tls-cert is not allowed by K8S_ALLOWED_SECRETS=database-credentials,billing/app-*; to allow it, add tls-cert or production/tls-cert to K8S_ALLOWED_SECRETS (kubernetes.allowedSecrets)',
    );
    // The allowed name does not open a system namespace.
    expect(problem(checkSecret(s, 'kube-system', 'database-credentials'))).toMatch(/^namespace kube-system is a system namespace/);
    expect(allowed(checkDeployment(s, 'production', 'api-gateway'))).toBe(true);
    expect(problem(checkDeployment(s, 'production', 'worker'))).toContain('deployment production/worker is not allowed by K8S_ALLOWED_DEPLOYMENTS=api-*');
    // `*` (the default) adds nothing to the note.
    expect(checkDeployment(DEFAULT_KUBE_SCOPE, 'production', 'worker')).toEqual({ ok: true, note: 'K8S_ALLOWED_NAMESPACES=*, system namespaces excluded' });
  });

  it('enforce throws a refusal as a PermanentStepError and returns the note otherwise', () => {
    expect(enforce({ ok: true, note: 'n' })).toBe('n');
    expect(() => enforce(checkNamespace(DEFAULT_KUBE_SCOPE, 'kube-system'))).toThrow(expect.objectContaining({ name: 'PermanentStepError' }) as Error);
  });

  it('velero.restore: included namespaces, where they land, both sides of a mapping; * leaves the system namespaces out', () => {
    expect(checkRestoreScope(DEFAULT_KUBE_SCOPE, { includedNamespaces: ['*'], veleroNamespace: 'velero' })).toEqual({
      ok: true,
      note: 'K8S_ALLOWED_NAMESPACES=*; not restored: kube-system, kube-public, kube-node-lease, velero, dr-chatops',
      excluded: ['kube-system', 'kube-public', 'kube-node-lease', 'velero', 'dr-chatops'],
    });
    // A system namespace named exactly may be restored; the step's own Velero namespace never is by *.
    expect(checkRestoreScope(scope(['*', 'kube-system']), { veleroNamespace: 'velero-ops' }).excluded).toEqual(['kube-public', 'kube-node-lease', 'velero', 'dr-chatops', 'velero-ops']);
    expect(checkRestoreScope(DEFAULT_KUBE_SCOPE, { includedNamespaces: ['production'], restoreInto: 'dr-drill-r1', veleroNamespace: 'velero' }).ok).toBe(true);
    expect(problem(checkRestoreScope(DEFAULT_KUBE_SCOPE, { includedNamespaces: ['production'], restoreInto: 'kube-system', veleroNamespace: 'velero' }))).toMatch(/^namespace kube-system is a system namespace/);
    expect(problem(checkRestoreScope(DEFAULT_KUBE_SCOPE, { includedNamespaces: ['kube-system'], restoreInto: 'dr-drill-r1', veleroNamespace: 'velero' }))).toMatch(/^namespace kube-system is a system namespace/);
    expect(checkRestoreScope(DEFAULT_KUBE_SCOPE, { includedNamespaces: ['*'], namespaceMapping: { production: 'velero' }, veleroNamespace: 'velero' }).ok).toBe(false);
    expect(problem(checkRestoreScope(scope(['production']), { includedNamespaces: ['*'], veleroNamespace: 'velero' }))).toBe(
      'restoring every namespace of the backup (includedNamespaces *) is not allowed by K8S_ALLOWED_NAMESPACES=production; list the namespaces to restore in includedNamespaces, or set K8S_ALLOWED_NAMESPACES (kubernetes.allowedNamespaces) to * (system namespaces stay excluded)',
    );
  });

  it('reads the settings (environment or file lists), with the configured Velero namespace among the system ones', () => {
    const config = loadConfig({
      env: { K8S_ALLOWED_NAMESPACES: 'production, team-*', K8S_ALLOWED_SECRETS: 'production/database-credentials', VELERO_NAMESPACE: 'velero-ops' },
      needsSlack: false,
    });
    expect(config.kubernetes.allowedNamespaces).toEqual(['production', 'team-*']);
    expect(config.kubernetes.allowedDeployments).toEqual(['*']);
    expect(stepLimitsFrom(config).kubernetes).toEqual({
      namespaces: ['production', 'team-*'],
      secrets: ['production/database-credentials'],
      deployments: ['*'],
      systemNamespaces: ['kube-system', 'kube-public', 'kube-node-lease', 'velero-ops', 'dr-chatops'],
    });
    expect(stepLimitsFrom(loadConfig({ env: {}, needsSlack: false })).kubernetes).toEqual(DEFAULT_KUBE_SCOPE);

    let error: unknown;
    try {
      loadConfig({ env: { K8S_ALLOWED_NAMESPACES: 'Prod;rm', K8S_ALLOWED_DEPLOYMENTS: ' , ' }, needsSlack: false });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as Error).message;
    expect(text).toContain('K8S_ALLOWED_NAMESPACES: must be * or namespace names or globs like production,team-*, comma separated');
    expect(text).toContain('K8S_ALLOWED_DEPLOYMENTS: must be * or deployment names');
  });
});
