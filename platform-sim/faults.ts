/**
 * Faults the demo (and tests) make on a live instance, each the way it happens in production, for
 * triage to find. Test and demo infrastructure, not product.
 */
import type { KubeClients } from '../activities/kubernetes/client';
import { MATCHING_CRONJOB } from '../common/platform';
import { JOB_FAILS_ANNOTATION, LOG_FAULTS_ANNOTATION } from './platform-repo';

/**
 * A matching run that failed: a Job made from the CronJob as `kubectl create job --from=cronjob/...`
 * makes it, whose pod exits 1 and logs the error (kwok's job-fails stage, the pod-log simulator).
 * Returns the Job's name once it has failed.
 */
export async function failMatchingRun(kube: KubeClients, instance: string, name = 'manual-matching-failed', timeoutMs = 60_000): Promise<string> {
  const cronJob = await kube.batch.readNamespacedCronJob({ name: MATCHING_CRONJOB, namespace: instance });
  const spec = cronJob.spec!.jobTemplate.spec!;
  spec.template.metadata = { ...spec.template.metadata, annotations: { ...spec.template.metadata?.annotations, [JOB_FAILS_ANNOTATION]: 'true', [LOG_FAULTS_ANNOTATION]: 'matching-failure' } };
  await kube.batch.createNamespacedJob({
    namespace: instance,
    body: { metadata: { name, annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' } }, spec: { ...spec, backoffLimit: 0 } },
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await kube.batch.readNamespacedJob({ name, namespace: instance });
    if (job.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True')) return name;
    if (Date.now() > deadline) throw new Error(`Job ${name} did not fail within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
