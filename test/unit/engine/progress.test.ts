import { describe, expect, it } from 'vitest';
import { coalescedProgress, type ProgressWrite } from '../../../src/engine/progress.ts';

describe('coalesced step progress', () => {
  const reporter = (writes: ProgressWrite[]) =>
    coalescedProgress({
      stepId: 'restore',
      intervalMs: 50,
      now: Date.now,
      current: () => ({ state: 'running', attempts: 1 }),
      write: (w) => {
        writes.push(w);
        return Promise.resolve();
      },
      onWriteError: () => undefined,
    });

  it('writes the latest of a burst, and the last report before the attempt ends', async () => {
    const writes: ProgressWrite[] = [];
    const progress = reporter(writes);
    for (let i = 1; i <= 20; i++) progress.report(`item ${i}`, i * 5);
    await progress.flush();
    expect(writes.map((w) => w.event.message)).toEqual(['item 20']);
    expect(writes[0]?.record.progress).toMatchObject({ message: 'item 20', percent: 100 });
  });

  it('after the attempt ended, a step still running in the background cannot write its record again', async () => {
    const writes: ProgressWrite[] = [];
    const progress = reporter(writes);
    progress.report('waiting for the restore');
    await progress.flush();
    progress.report('still waiting (after it was cancelled)');
    await new Promise((r) => setTimeout(r, 120));
    expect(writes.map((w) => w.event.message)).toEqual(['waiting for the restore']);
  });
});
