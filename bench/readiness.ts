/**
 * The readiness checklist of one target, timed against the loopback fakes of a
 * whole estate (test/support/estate.ts) that each answer after `--latency` ms
 * (default 40, an AWS API call's order), beside the sum of the fakes' own
 * answer times: what the same calls would take one after another. Both
 * targets, production (the bot's keys) and DR (an assumed role).
 *
 *   npm run bench -- readiness [--runs 5] [--latency 40]
 */
import { readinessChecklistStep } from '../src/steps/readiness/checklist.ts';
import type { TargetReport } from '../src/steps/readiness/report.ts';
import type { LoopbackFake } from '../test/support/loopback.ts';
import { DR_CLUSTER, Estate, PROD_CLUSTER, RECORD, STATE_BUCKET } from '../test/support/estate.ts';
import { stepContext } from '../test/support/step-context.ts';
import { percentile } from './util.ts';

export async function benchReadiness({ runs, latencyMs }: { runs: number; latencyMs: number }): Promise<void> {
  const estate = await new Estate().start();
  try {
    estate.healthy();
    const fakes: LoopbackFake[] = [estate.sts, estate.eks, estate.rds, estate.rdsDr, estate.kube, estate.drCluster, estate.cloudwatch, estate.ecr, estate.secrets, estate.route53, estate.s3];
    for (const fake of fakes) fake.latencyMs = latencyMs;
    const targets = estate.targets();
    const step = readinessChecklistStep();
    const cases = [
      { target: 'prod', params: { role: 'primary', aurora: { clusters: [PROD_CLUSTER] }, terraformState: { bucket: STATE_BUCKET }, dns: { record: RECORD }, planRunbooks: false } },
      { target: 'dr', params: { role: 'dr', aurora: { clusters: [DR_CLUSTER] }, velero: { expectBackups: 'hourly-backup-20261207050000,daily-full-backup-20261207020000' } } },
    ];
    console.log(`\nReadiness checklist, one target at a time, fakes answering after ${latencyMs} ms each (${runs} runs; the first one assumes roles and makes clients)`);
    for (const { target, params } of cases) {
      const wall: number[] = [];
      const sums: number[] = [];
      let requests = 0;
      let items = 0;
      for (let i = 0; i < runs; i++) {
        for (const fake of fakes) Object.assign(fake.answered, { count: 0, ms: 0 });
        const ctx = { ...stepContext({ runId: `bench${String(i)}` }), ...targets.access(target, `bench-readiness-${String(i)}`) };
        const started = performance.now();
        const out = await step.run(ctx, step.params.parse(params));
        wall.push(performance.now() - started);
        sums.push(fakes.reduce((sum, f) => sum + f.answered.ms, 0));
        requests = fakes.reduce((sum, f) => sum + f.answered.count, 0);
        items = (JSON.parse(String(out.report)) as TargetReport).items.length;
      }
      const warm = wall.slice(1);
      const warmSums = sums.slice(1);
      console.log(`  ${target}: ${String(items)} items, ${String(requests)} requests`);
      console.log(`    first run ${wall[0]?.toFixed(0) ?? '?'} ms (fakes' answers, one after another: ${sums[0]?.toFixed(0) ?? '?'} ms)`);
      if (warm.length) {
        const p50 = percentile(warm, 50);
        const sum50 = percentile(warmSums, 50);
        console.log(`    then p50 ${p50.toFixed(0)} ms, max ${Math.max(...warm).toFixed(0)} ms (fakes' answers one after another: p50 ${sum50.toFixed(0)} ms; ratio ${(sum50 / p50).toFixed(1)}×)`);
      }
    }
  } finally {
    await estate.stop();
  }
}
