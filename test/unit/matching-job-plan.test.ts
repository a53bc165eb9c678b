/**
 * The run-matching-job runbook's pure parts (common/matching-job-plan.ts): the Job kubectl would
 * create, its run-derived name, the refusals (no CronJob, a Job running, writers quiesced), how a
 * Job's end is read, the log tail's bounds, and the approval guard's rule for the create.
 */
import { describe, expect, it } from 'vitest';
import { DESTRUCTIVE_RULES } from '../../activities/destructive';
import { jobFromCronJob, jobOutcome, LOG_TAIL_BYTES, LOG_TAIL_LINES, logTail, matchingJobName, planMatchingJob } from '../../common/matching-job-plan';
import type { CronJobObject, JobObject, MatchingJobChange } from '../../common/matching-job-plan';

const cronJob: CronJobObject = {
  metadata: { name: 'virtual-coffee-matching-cronjob', namespace: 'demo', uid: 'cron-uid' },
  spec: {
    suspend: false,
    jobTemplate: {
      metadata: { labels: { team: 'coffee' }, annotations: { note: 'x' } },
      spec: { backoffLimit: 1, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'matching', image: 'img' }] } } },
    },
  },
};
const owned = { ownerReferences: [{ kind: 'CronJob', name: 'virtual-coffee-matching-cronjob' }] };
const job = (name: string, conditions: { type: string; status: string }[] = []): JobObject => ({ metadata: { name, ...owned }, status: { conditions } });

describe('run-matching-job plan', () => {
  it('names the Job after the run: the same for every attempt, another for another run, a valid name', () => {
    expect(matchingJobName('run-1')).toBe(matchingJobName('run-1'));
    expect(matchingJobName('run-1')).not.toBe(matchingJobName('run-2'));
    expect(matchingJobName('0b6a3c5e-7c8d-4e0f-9a1b-2c3d4e5f6a7b')).toMatch(/^manual-matching-[0-9a-f]{10}$/);
  });

  it('builds the Job as `kubectl create job --from=cronjob/...`: the jobTemplate, marked manual, owned by the CronJob', () => {
    expect(jobFromCronJob(cronJob, 'manual-matching-abc', 'destructive/demo/run-1')).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'manual-matching-abc',
        namespace: 'demo',
        labels: { team: 'coffee' },
        annotations: { note: 'x', 'cronjob.kubernetes.io/instantiate': 'manual', 'vcp-runbooks.io/created-by-run': 'destructive/demo/run-1' },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'virtual-coffee-matching-cronjob', uid: 'cron-uid', controller: true }],
      },
      spec: cronJob.spec!.jobTemplate!.spec,
    });
  });

  it('plans the CronJob and the Job name when no Job of it runs (finished ones and other CronJobs\' do not count)', () => {
    const jobs = [job('done', [{ type: 'Complete', status: 'True' }]), job('failed', [{ type: 'Failed', status: 'True' }]), { metadata: { name: 'other', ownerReferences: [{ kind: 'CronJob', name: 'other' }] } }];
    expect(planMatchingJob('demo', cronJob, jobs, 'manual-matching-abc', false)).toMatchObject({
      cronJob: { name: 'virtual-coffee-matching-cronjob', uid: 'cron-uid', suspended: false },
      jobName: 'manual-matching-abc',
    });
  });

  it('refuses without the CronJob, while one of its Jobs runs (naming it), and while a recovery holds it suspended', () => {
    expect(() => planMatchingJob('demo', undefined, [], 'j', false)).toThrow('CronJob demo/virtual-coffee-matching-cronjob does not exist; nothing to run');
    expect(() => planMatchingJob('demo', cronJob, [job('virtual-coffee-matching-cronjob-29400000')], 'j', false)).toThrow(
      'a Job of virtual-coffee-matching-cronjob is already running (virtual-coffee-matching-cronjob-29400000)',
    );
    expect(() => planMatchingJob('demo', cronJob, [], 'j', true)).toThrow(/suspended by a DynamoDB recovery/);
    expect(() => planMatchingJob('demo', { ...cronJob, metadata: { ...cronJob.metadata, deletionTimestamp: '2026-12-03T00:00:00Z' } }, [], 'j', false)).toThrow(
      'CronJob demo/virtual-coffee-matching-cronjob is being deleted; nothing to run',
    );
  });

  it('does not count the run\'s own Job as another running one (a retried plan after the create)', () => {
    expect(planMatchingJob('demo', cronJob, [job('manual-matching-abc')], 'manual-matching-abc', false).jobName).toBe('manual-matching-abc');
  });
});

describe('a Job\'s end and its log tail', () => {
  it('reads Complete or Failed from a true condition only', () => {
    expect(jobOutcome(job('j'))).toBeUndefined();
    expect(jobOutcome(job('j', [{ type: 'Complete', status: 'True' }]))).toBe('Complete');
    expect(jobOutcome(job('j', [{ type: 'Failed', status: 'True' }]))).toBe('Failed');
    expect(jobOutcome(job('j', [{ type: 'Failed', status: 'False' }, { type: 'SuccessCriteriaMet', status: 'True' }]))).toBeUndefined();
  });

  it('keeps the last lines, within the line and byte bounds', () => {
    const many = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    expect(logTail(many)).toEqual(Array.from({ length: LOG_TAIL_LINES }, (_, i) => `line ${100 - LOG_TAIL_LINES + i}`));
    const long = ['x'.repeat(LOG_TAIL_BYTES), 'last'].join('\n');
    expect(logTail(long)).toEqual(['last']);
  });
});

describe('the matching Job create guard', () => {
  const plan = planMatchingJob('demo', cronJob, [], 'manual-matching-abc', false);
  const change = (extra: Partial<MatchingJobChange> = {}): MatchingJobChange => ({ instance: 'demo', jobName: 'manual-matching-abc', cronJobUid: 'cron-uid', run: 'r', ...extra });
  const outside = (c: MatchingJobChange) => DESTRUCTIVE_RULES.createMatchingJob.outsidePlan(plan, c);

  it('allows the planned Job from the planned CronJob', () => {
    expect(outside(change())).toBeUndefined();
  });

  it('refuses another instance, another Job name, another CronJob UID', () => {
    expect(outside(change({ instance: 'other' }))).toBe('the approved plan is for instance demo, not other');
    expect(outside(change({ jobName: 'manual-matching-zzz' }))).toBe('the approved plan creates Job manual-matching-abc, not manual-matching-zzz');
    expect(outside(change({ cronJobUid: 'new-uid' }))).toBe('the approved plan runs CronJob uid cron-uid, not new-uid');
  });
});
