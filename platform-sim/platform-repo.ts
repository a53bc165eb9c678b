/**
 * The platform's deploy repository as Argo CD reads it: a bare git repository on this machine, served
 * to the repo server over file://, whose commits are an instance's manifests at each release and the
 * fixture revisions the tests roll back to. Test and demo infrastructure, not product.
 *
 * The manifests carry nothing instance-specific (Argo CD puts namespaced objects in the Application's
 * destination namespace; the pods read their instance from their namespace), so every instance's
 * Application points at the same path. Replicas are not in git (as with an autoscaler): the seed
 * scales the Deployments, and neither a sync nor self-heal touches them.
 *
 * Built by scripts/stack/up.sh (`tsx platform-sim/platform-repo.ts <git dir>`) with fixed authors and
 * dates, so the same manifests always give the same commits.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { API_DEPLOYMENT, CONFIG_MAP, FRONTEND_DEPLOYMENT, MATCHING_CRONJOB } from '../common/platform';

/** The variable up.sh writes into the stack's env: the bare repository's directory. */
export const PLATFORM_GIT_DIR_ENV = 'VCP_PLATFORM_GIT_DIR';
/** Where in the repository an instance's manifests live. */
export const INSTANCE_PATH = 'instance';
/** The branch instances follow. */
export const PLATFORM_BRANCH = 'main';

export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const PLATFORM = 'virtual-coffee';
/** Pod-template annotation with the release a pod runs (the pod-log simulator logs it). */
export const VERSION_ANNOTATION = 'virtualcoffee.io/version';
/** Pod-template annotation kwok's stages read to crash-loop a pod (scripts/stack/kube/kwok-stages.yaml). */
export const CRASH_LOOP_ANNOTATION = 'sim.virtualcoffee.io/crash-loop';
/**
 * Pod-template annotation the pod-log simulator reads to log a fault (comma-separated): `api-errors`
 * (5xx and exceptions), `auth-errors`, `matching-failure` (a matching Job's error). Healthy pods log none.
 */
export const LOG_FAULTS_ANNOTATION = 'sim.virtualcoffee.io/log-faults';
/** Pod-template annotation kwok's stages read to hold a pod in ImagePullBackOff (scripts/stack/kube/kwok-stages.yaml). */
export const IMAGE_PULL_ERROR_ANNOTATION = 'sim.virtualcoffee.io/image-pull-error';
/** Pod-template annotation kwok's stages read to fail a Job's pod with exit code 1 (scripts/stack/kube/kwok-stages.yaml). */
export const JOB_FAILS_ANNOTATION = 'sim.virtualcoffee.io/job-fails';

/** Secret-looking values the manifests plant; no diagnostic bundle may contain them. */
export const SEEDED_SECRETS = {
  databasePassword: 'vc-db-password-3f9a1c',
  oauthClientSecret: 'GOCSPX-simulated-oauth-secret-71b2',
} as const;

/** The releases on the branch, oldest first; the last is its head. */
export const RELEASES = [
  { tag: 'release-1.0', version: '1.0.0' },
  { tag: 'release-1.1', version: '1.1.0' },
  { tag: 'release-1.2', version: '1.2.0' },
] as const;

/**
 * Revisions for the failure cases, each a tag on a commit beside the branch:
 * - `immutableSelector`: release 1.1 with another API Deployment selector; applying it over a running
 *   release fails (the API server refuses to change a selector), as rolling back past a selector change does.
 * - `neverReady`: release 1.1 whose API pods crash-loop, with a 10 s progress deadline: the Deployment
 *   reports ProgressDeadlineExceeded and Argo CD turns Degraded.
 * - `sameAsHead`: a commit with exactly the head's manifests (auto-sync finds nothing to do).
 * - `withoutCronJob`: the head without the matching CronJob (syncing it leaves one resource to prune).
 * - `unparsable`: a manifest that is not YAML: Argo CD cannot generate manifests (ComparisonError).
 *   It names apiVersion, kind and metadata: Argo CD skips a file that does not parse unless it looks like one.
 */
export const FIXTURES = {
  immutableSelector: 'fixture/immutable-selector',
  neverReady: 'fixture/never-ready',
  sameAsHead: 'fixture/same-as-head',
  withoutCronJob: 'fixture/without-cronjob',
  unparsable: 'fixture/unparsable',
} as const;
export type FixtureName = keyof typeof FIXTURES;

export function imageFor(deployment: string, version: string): string {
  return `ghcr.io/virtual-coffee/${deployment === API_DEPLOYMENT ? 'api' : 'frontend'}:${version}`;
}

interface Release {
  version: string;
  apiSelector?: Record<string, string>;
  crashLoop?: boolean;
  progressDeadlineSeconds?: number;
  cronJob?: boolean;
}

function deployment(name: string, container: 'api' | 'frontend', r: Release) {
  const selector = container === 'api' && r.apiSelector ? r.apiSelector : { app: name };
  const labels = { ...selector, [PART_OF_LABEL]: PLATFORM };
  const annotations: Record<string, string> = { [VERSION_ANNOTATION]: r.version };
  if (container === 'api' && r.crashLoop) annotations[CRASH_LOOP_ANNOTATION] = 'true';
  const port = container === 'api' ? 8000 : 80;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name, [PART_OF_LABEL]: PLATFORM }, annotations: { [VERSION_ANNOTATION]: r.version } },
    spec: {
      revisionHistoryLimit: 5,
      ...(container === 'api' && r.progressDeadlineSeconds ? { progressDeadlineSeconds: r.progressDeadlineSeconds } : {}),
      selector: { matchLabels: selector },
      template: {
        metadata: { labels, annotations },
        spec: {
          containers: [
            {
              name: container,
              image: imageFor(name, r.version),
              ports: [{ containerPort: port }],
              env: [
                { name: 'INSTANCE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'AWS_REGION', value: 'us-west-2' },
                { name: 'USERS_TABLE', value: 'users-$(INSTANCE)' },
                ...(container === 'api' ? [{ name: 'DB_PASSWORD', value: SEEDED_SECRETS.databasePassword }] : []),
              ],
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
              readinessProbe: { httpGet: { path: container === 'api' ? '/api/v1/health' : '/', port } },
              volumeMounts: [{ name: 'config', mountPath: '/etc/virtual-coffee' }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: CONFIG_MAP } }],
        },
      },
    },
  };
}

/** The files of one revision, by path in the repository. */
function manifests(r: Release): Record<string, string> {
  const labels = { [PART_OF_LABEL]: PLATFORM };
  const files: Record<string, unknown> = {
    'configmap.yaml': {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CONFIG_MAP, labels },
      data: {
        api_base_url: 'https://virtualcoffee.example/api',
        matching_schedule: '0 9 * * MON',
        matching_group_size: '2',
        oauth_provider: 'google',
        oauth_client_id: 'virtual-coffee.apps.googleusercontent.example',
        oauth_client_secret: SEEDED_SECRETS.oauthClientSecret,
      },
    },
    'api.yaml': deployment(API_DEPLOYMENT, 'api', r),
    'frontend.yaml': deployment(FRONTEND_DEPLOYMENT, 'frontend', r),
  };
  if (r.cronJob !== false) {
    files['matching-cronjob.yaml'] = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: MATCHING_CRONJOB, labels },
      spec: {
        schedule: '0 9 * * 1',
        concurrencyPolicy: 'Forbid',
        suspend: false,
        successfulJobsHistoryLimit: 3,
        jobTemplate: {
          spec: {
            backoffLimit: 1,
            template: {
              metadata: { labels },
              spec: {
                restartPolicy: 'Never',
                containers: [{ name: 'matching', image: imageFor(API_DEPLOYMENT, r.version), command: ['python', '-m', 'backend.matching'] }],
              },
            },
          },
        },
      },
    };
  }
  return Object.fromEntries(Object.entries(files).map(([name, body]) => [`${INSTANCE_PATH}/${name}`, stringify(body)]));
}

/** Builds the repository into `gitDir` (replacing it): the releases on the branch, then the fixtures beside it. */
export function buildPlatformRepo(gitDir: string): void {
  const work = mkdtempSync(path.join(tmpdir(), 'vcp-platform-repo-'));
  let day = 0;
  const git = (...args: string[]) => {
    const date = `2026-01-${String(5 + day).padStart(2, '0')}T09:00:00Z`;
    return execFileSync('git', args, {
      cwd: work,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'Platform Team',
        GIT_AUTHOR_EMAIL: 'platform@virtualcoffee.example',
        GIT_COMMITTER_NAME: 'Platform Team',
        GIT_COMMITTER_EMAIL: 'platform@virtualcoffee.example',
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_DATE: date,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
      },
    }).trim();
  };
  const commit = (files: Record<string, string>, message: string, tag?: string) => {
    rmSync(path.join(work, INSTANCE_PATH), { recursive: true, force: true });
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
      writeFileSync(path.join(work, file), text);
    }
    git('add', '--all');
    git('commit', '--quiet', '--allow-empty', '-m', message);
    if (tag) git('tag', tag);
    day++;
  };
  try {
    git('init', '--quiet', `--initial-branch=${PLATFORM_BRANCH}`);
    for (const release of RELEASES) commit(manifests({ version: release.version }), `Release ${release.version}`, release.tag);
    const head = RELEASES[RELEASES.length - 1]!;
    const previous = RELEASES[RELEASES.length - 2]!;
    const beside = (files: Record<string, string>, message: string, tag: string) => {
      git('checkout', '--quiet', '--detach', head.tag);
      commit(files, message, tag);
    };
    beside(manifests({ version: previous.version, apiSelector: { app: API_DEPLOYMENT, track: 'stable' } }), 'API selector with track label', FIXTURES.immutableSelector);
    beside(manifests({ version: previous.version, crashLoop: true, progressDeadlineSeconds: 10 }), 'API that never becomes ready', FIXTURES.neverReady);
    beside(manifests({ version: head.version }), 'Same manifests as the head', FIXTURES.sameAsHead);
    beside(manifests({ version: head.version, cronJob: false }), 'Matching moved out of the instance', FIXTURES.withoutCronJob);
    beside({ ...manifests({ version: head.version }), [`${INSTANCE_PATH}/api.yaml`]: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: [unclosed\n' }, 'Broken YAML', FIXTURES.unparsable);
    git('checkout', '--quiet', PLATFORM_BRANCH);

    const staged = `${gitDir}.new`;
    rmSync(staged, { recursive: true, force: true });
    git('clone', '--quiet', '--bare', work, staged);
    rmSync(gitDir, { recursive: true, force: true });
    renameSync(staged, gitDir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface PlatformRepo {
  gitDir: string;
  url: string;
  /** Commit of each release, oldest first. */
  releases: string[];
  fixtures: Record<FixtureName, string>;
  /** The head commit of a branch. */
  branchHead(branch: string): string;
}

let cached: PlatformRepo | undefined;

/** The stack's repository and its commits (read with git from the directory up.sh recorded). */
export function platformRepo(): PlatformRepo {
  if (cached) return cached;
  const gitDir = process.env[PLATFORM_GIT_DIR_ENV];
  if (!gitDir) throw new Error(`${PLATFORM_GIT_DIR_ENV} is not set: source the stack's env file (scripts/stack/up.sh writes it)`);
  const revParse = (ref: string) => execFileSync('git', ['--git-dir', gitDir, 'rev-parse', `${ref}^{commit}`], { encoding: 'utf8' }).trim();
  cached = {
    gitDir,
    url: `file://${gitDir}`,
    releases: RELEASES.map((r) => revParse(r.tag)),
    fixtures: Object.fromEntries(Object.entries(FIXTURES).map(([name, tag]) => [name, revParse(tag)])) as Record<FixtureName, string>,
    branchHead: revParse,
  };
  return cached;
}

if (require.main === module) {
  const gitDir = process.argv[2];
  if (!gitDir || !path.isAbsolute(gitDir)) {
    console.error('usage: platform-repo.ts <absolute path of the bare repository to (re)build>');
    process.exit(2);
  }
  buildPlatformRepo(gitDir);
  console.log(`platform repository built in ${gitDir}`);
}
