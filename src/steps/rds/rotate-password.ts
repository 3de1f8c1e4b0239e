import { randomBytes } from 'node:crypto';
import { type DBCluster, ModifyDBClusterCommand, type RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import { K8S_NAME, K8S_NAMESPACE } from '../kube/api.ts';
import { allowedNote, checkSecret, DEFAULT_KUBE_SCOPE, enforce, enforcePlanned, type KubeScope, scopeOnTarget } from '../kube/scope.ts';
import { patchSecret, readSecret } from '../kube/update-secret.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError, type StepContext } from '../types.ts';
import { CLUSTER_ID, classifyAwsError, isAwsError, mustDescribeCluster } from './aws.ts';
import { globalClusterOf } from './global.ts';
import { lookAtState } from './states.ts';

/** Marks the Secret a new password was written to, with the run that wrote it: a re-entered step reuses that password. */
export const ROTATED_BY = 'dr-chatops/rotated-by';
const ROTATED_AT = 'dr-chatops/rotated-at';

/**
 * Characters of a new password: letters, digits and `-_.~`, which need no
 * escaping in a URL, a shell or a connection string, and are all allowed by
 * RDS (printable ASCII but `/`, `"`, `@` and space). 40 of them (Aurora takes
 * 8-41): about 240 bits.
 */
const PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~';
export const PASSWORD_LENGTH = 40;

/** A strong random password from crypto.randomBytes, without modulo bias (bytes past the last whole alphabet are dropped). */
export function newMasterPassword(): string {
  const limit = 256 - (256 % PASSWORD_ALPHABET.length);
  let out = '';
  while (out.length < PASSWORD_LENGTH) {
    for (const b of randomBytes(PASSWORD_LENGTH * 2)) {
      if (b < limit && out.length < PASSWORD_LENGTH) out += PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length] ?? '';
    }
  }
  return out;
}

/** How the master password is replaced, decided from the cluster. */
type Method =
  | { method: 'managed-rotation'; secretArn: string; secretStatus: string }
  | { method: 'new-password'; why: string };

/**
 * An RDS-managed master secret (`MasterUserSecret`) is rotated by RDS. A
 * member of a global database cannot have one (Aurora User Guide, Secrets
 * Manager limitations), and only its primary takes a password (it replicates
 * to the secondaries): a secondary is refused, naming the primary. Any other
 * cluster without a managed secret gets a new password from the bot.
 */
async function decide(rds: RDSClient, cluster: DBCluster, id: string): Promise<Method> {
  const secret = cluster.MasterUserSecret;
  if (secret?.SecretArn) return { method: 'managed-rotation', secretArn: secret.SecretArn, secretStatus: secret.SecretStatus ?? 'unknown' };
  const global = await globalClusterOf(rds, cluster, undefined);
  if (!global) return { method: 'new-password', why: `${id} has no RDS-managed master secret` };
  const members = global.GlobalClusterMembers ?? [];
  const writer = members.find((m) => m.IsWriter)?.DBClusterArn ?? 'unknown';
  if (writer !== cluster.DBClusterArn) {
    throw new PermanentStepError(
      `${id} is a secondary of global database ${global.GlobalClusterIdentifier ?? '?'}: its master password is the primary's, which replicates to it, and RDS takes no password for a secondary; rotate it on the primary ${writer} (a step with that cluster, in its region's target)`,
    );
  }
  return { method: 'new-password', why: `${id} is the primary of global database ${global.GlobalClusterIdentifier ?? '?'}, which cannot have an RDS-managed master password` };
}

const decode = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8'));
const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * `rds.rotate-master-password`: replaces an Aurora cluster's master password
 * after a breach and gives the application the new one, in key `passwordKey`
 * of its Kubernetes Secret (a merge: other keys are kept).
 * - RDS-managed master secret: ModifyDBCluster RotateMasterUserPassword with
 *   ApplyImmediately (both required), wait until the cluster is available and
 *   the secret has a new AWSCURRENT version, read it (GetSecretValue) and
 *   write its password into the Secret.
 * - Otherwise (a global database's primary, or no managed secret): a new
 *   random password is written into the Secret first, annotated
 *   `dr-chatops/rotated-by: <run>`, then set with ModifyDBCluster
 *   MasterUserPassword, ApplyImmediately; wait until available.
 * Cannot undo: the old password stops working at once (it is the leaked one).
 * Idempotency: the rotation and the password change are checkpoints; a
 * re-entered step reuses the password its run wrote into the Secret and never
 * makes another. The password is kept nowhere but the Secret (and RDS):
 * never in outputs, checkpoints, progress, plans, errors or logs.
 */
export function rotateMasterPasswordStep(limits: KubeScope = DEFAULT_KUBE_SCOPE) {
  return defineStep({
    id: 'rds.rotate-master-password',
    resumable: true,
    summary: "Replace an Aurora cluster's master password and put the new one in the application's Secret",
    params: z.object({
      cluster: CLUSTER_ID,
      namespace: z.string().regex(K8S_NAMESPACE, 'must be a Kubernetes namespace name'),
      /** The application's Secret holding the database password. */
      secret: z.string().regex(K8S_NAME, 'must be a Kubernetes Secret name'),
      passwordKey: z.string().regex(/^[-._a-zA-Z0-9]{1,253}$/, 'must be a Secret key (letters, digits, -, _ and .)').default('password'),
    }),
    outputs: ['method', 'secretVersion', 'rotatedAt'],
    async plan(ctx, p) {
      const scope = scopeOnTarget(limits, ctx.target);
      const note = enforcePlanned(scope, [p.namespace, p.secret], ['namespaces', 'secrets'], () => checkSecret(scope, p.namespace, p.secret));
      const rds = ctx.aws.rds();
      const cluster = await mustDescribeCluster(rds, p.cluster);
      const how = await decide(rds, cluster, p.cluster);
      // The Secret must be there before anything changes: a rotated password nobody can read is an outage.
      await readSecret(await ctx.kube(), p.namespace, p.secret);
      const into = `key ${p.passwordKey} of secret ${p.namespace}/${p.secret} (other keys kept; the password is never shown)${allowedNote(note)}`;
      const cutOff = 'the old password stops working at once: clients still using it are cut off until they have the new one';
      if (how.method === 'managed-rotation') {
        if (how.secretStatus === 'impaired') throw new PermanentStepError(`the RDS-managed secret of ${p.cluster} is impaired (RDS cannot rotate it, often a changed KMS key or secret policy): fix it, or turn management off and on again`);
        return [
          {
            action: 'change',
            resource: `rds cluster ${p.cluster}`,
            detail: `rotate the RDS-managed master password of ${p.cluster} (secret ${how.secretArn}, now ${how.secretStatus}: ModifyDBCluster RotateMasterUserPassword, applied immediately), wait until the cluster is available and the secret rotated, then write the new password into ${into}; ${cutOff}`,
            irreversible: true,
          },
        ];
      }
      return [
        {
          action: 'change',
          resource: `rds cluster ${p.cluster}`,
          detail: `${how.why}: make a random ${PASSWORD_LENGTH}-character password, write it first into ${into}, annotated ${ROTATED_BY}=${ctx.runId}, then set it as the master password (ModifyDBCluster MasterUserPassword, applied immediately) and wait until the cluster is available; ${cutOff}`,
          irreversible: true,
        },
      ];
    },
    async run(ctx, p) {
      enforce(checkSecret(scopeOnTarget(limits, ctx.target), p.namespace, p.secret));
      const rds = ctx.aws.rds();
      const kube = await ctx.kube();
      // A missing Secret stops the step before the password changes.
      await readSecret(kube, p.namespace, p.secret);
      const how = await ctx.once('decide', async () => {
        const decided = await decide(rds, await mustDescribeCluster(rds, p.cluster), p.cluster);
        return decided.method === 'managed-rotation' ? { method: decided.method, secretArn: decided.secretArn } : { method: decided.method, secretArn: '' };
      });
      if (how.method === 'managed-rotation') return rotateManaged(ctx, { rds, sm: ctx.aws.secretsManager(), kube }, p, how.secretArn);
      return setNewPassword(ctx, { rds, kube }, p);
    },
  });
}

interface Params {
  cluster: string;
  namespace: string;
  secret: string;
  passwordKey: string;
}

/** GetSecretValue of an RDS-managed secret: its version and password (the password goes nowhere but the Kubernetes Secret). */
async function readManaged(sm: SecretsManagerClient, arn: string): Promise<{ versionId: string; password: string }> {
  try {
    const res = await sm.send(new GetSecretValueCommand({ SecretId: arn }));
    const parsed = JSON.parse(res.SecretString ?? '{}') as { password?: unknown };
    if (typeof parsed.password !== 'string' || !parsed.password) throw new PermanentStepError(`secret ${arn} holds no password field (an RDS-managed master secret holds username and password)`);
    return { versionId: res.VersionId ?? '', password: parsed.password };
  } catch (err) {
    if (err instanceof PermanentStepError) throw err;
    if (err instanceof SyntaxError) throw new PermanentStepError(`secret ${arn} is not the JSON an RDS-managed master secret holds`);
    throw classifyAwsError(err, `reading secret ${arn}`);
  }
}

/** Sends a change of the master password; a refusal because the cluster is already resetting it (our lost answer) is adopted. */
async function modify(rds: RDSClient, cluster: string, change: { RotateMasterUserPassword: true } | { MasterUserPassword: string }): Promise<void> {
  try {
    await rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: cluster, ApplyImmediately: true, ...change }));
  } catch (err) {
    const again = isAwsError(err, 'InvalidDBClusterStateFault') ? await mustDescribeCluster(rds, cluster) : undefined;
    if (again?.Status === 'resetting-master-credentials' || again?.MasterUserSecret?.SecretStatus === 'rotating') return;
    // AWS's words only: the request (and its password) is never part of the message.
    throw classifyAwsError(err, `changing the master password of ${cluster}`);
  }
}

async function rotateManaged(ctx: StepContext, c: { rds: RDSClient; sm: SecretsManagerClient; kube: KubeApis }, p: Params, secretArn: string) {
  // The version before the rotation: the wait ends on a new one, never on a secret RDS has not marked rotating yet.
  const before = await ctx.once('version-before', async () => ({ versionId: (await readManaged(c.sm, secretArn)).versionId }));
  const rotated = await ctx.once('rotate', async () => {
    ctx.progress(`rotating the RDS-managed master password of ${p.cluster}`);
    await modify(c.rds, p.cluster, { RotateMasterUserPassword: true });
    return { at: new Date().toISOString() };
  });
  let versionId = '';
  await pollUntil(ctx, {
    what: `${p.cluster} to be available with its master secret rotated`,
    name: 'rotation',
    check: async () => {
      const cluster = await mustDescribeCluster(c.rds, p.cluster);
      const look = lookAtState('DB cluster', p.cluster, cluster.Status, 'to be available');
      if (!look.done) return look;
      const status = cluster.MasterUserSecret?.SecretStatus ?? 'unknown';
      if (status === 'impaired') return { done: false, failed: `the master secret of ${p.cluster} is impaired: RDS cannot rotate it (often a changed KMS key or secret policy); fix it, then run the step again` };
      if (status !== 'active') return { done: false, state: `secret ${status}` };
      versionId = (await readManaged(c.sm, secretArn)).versionId;
      return versionId && versionId !== before.versionId ? { done: true } : { done: false, state: 'secret not rotated yet' };
    },
  });
  const { password } = await readManaged(c.sm, secretArn);
  const current = await readSecret(c.kube, p.namespace, p.secret);
  if (decode(current.data?.[p.passwordKey]) !== password) {
    await patchSecret(c.kube, p.namespace, p.secret, { data: { [p.passwordKey]: encode(password) }, annotations: { [ROTATED_BY]: ctx.runId, [ROTATED_AT]: new Date().toISOString() } });
  }
  ctx.progress(`secret ${p.namespace}/${p.secret} holds the rotated password (version ${versionId})`);
  return { method: 'managed-rotation', secretVersion: versionId, rotatedAt: rotated.at };
}

async function setNewPassword(ctx: StepContext, c: { rds: RDSClient; kube: KubeApis }, p: Params) {
  const secretName = `${p.namespace}/${p.secret}`;
  // Written first, so the password exists somewhere before RDS has it; this run's annotation makes it ours on re-entry.
  const written = await ctx.once('write-secret', async () => {
    const current = await readSecret(c.kube, p.namespace, p.secret);
    if (current.metadata?.annotations?.[ROTATED_BY] === ctx.runId && current.data?.[p.passwordKey]) {
      ctx.progress(`secret ${secretName} already holds this run's new password: reusing it`);
      return { at: current.metadata.annotations[ROTATED_AT] ?? new Date().toISOString() };
    }
    const at = new Date().toISOString();
    await patchSecret(c.kube, p.namespace, p.secret, { data: { [p.passwordKey]: encode(newMasterPassword()) }, annotations: { [ROTATED_BY]: ctx.runId, [ROTATED_AT]: at } });
    ctx.progress(`new password written to secret ${secretName}`);
    return { at };
  });
  const secret = await readSecret(c.kube, p.namespace, p.secret);
  const password = decode(secret.data?.[p.passwordKey]);
  const by = secret.metadata?.annotations?.[ROTATED_BY];
  if (by !== ctx.runId || !password) {
    throw new PermanentStepError(
      `secret ${secretName} no longer holds this run's new password (${ROTATED_BY} is ${by ?? 'absent'}): somebody changed it after this run wrote it; if this run already set the cluster's password, the Secret no longer matches it: set a password on the cluster and in the Secret by hand`,
    );
  }
  await ctx.once('set-password', async () => {
    ctx.progress(`setting the new master password of ${p.cluster}`);
    await modify(c.rds, p.cluster, { MasterUserPassword: password });
    return { at: new Date().toISOString() };
  });
  await pollUntil(ctx, {
    what: `${p.cluster} to be available with its new master password`,
    name: 'cluster',
    check: async () => {
      const cluster = await mustDescribeCluster(c.rds, p.cluster);
      const look = lookAtState('DB cluster', p.cluster, cluster.Status, 'to be available');
      if (!look.done) return look;
      // Without ApplyImmediately RDS would keep it for the maintenance window: it must not be pending.
      return cluster.PendingModifiedValues?.MasterUserPassword ? { done: false, state: 'password change pending' } : { done: true };
    },
  });
  return { method: 'new-password', secretVersion: '', rotatedAt: written.at };
}
