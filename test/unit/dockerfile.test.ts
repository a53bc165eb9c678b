/**
 * The Dockerfile cannot be built here (no registry), so its shape is checked against the files it
 * must agree with: the runtime stage holds compiled JavaScript and production dependencies only and
 * runs as the numeric non-root UID deploy/ runs it as; the build stage compiles what
 * tsconfig.build.json compiles; .dockerignore lets exactly that through. test/compiled-build.test.ts
 * runs the build itself and the compiled entry points.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';
import { parseAllDocuments } from 'yaml';

const root = path.join(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

/** Stages of a Dockerfile: continuation lines joined, comments dropped, ARG defaults before the first FROM substituted. */
function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const expanded = rest.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? `\${${name}}`);
    if (op.toUpperCase() === 'FROM') {
      const [image = '', as, name] = expanded.split(/\s+/);
      stages.push({ image, name: as?.toUpperCase() === 'AS' && name ? name : String(stages.length), instructions: [] });
    } else if (op.toUpperCase() === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = expanded.split('=');
      args.set(name, value);
    } else {
      stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args: expanded });
    }
  }
  return stages;
}

interface Copy {
  from?: string;
  sources: string[];
  destination: string;
}

function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
    });
}

const stages = parseDockerfile(read('Dockerfile'));
const runtime = stages.at(-1)!;
const stage = (name: string | undefined) => stages.find((s) => s.name === name);
const runs = (s: Stage | undefined) => (s?.instructions ?? []).filter((i) => i.op === 'RUN').map((i) => i.args);
const folder = (p: string) => p.replace(/\/$/, '');

interface PodTemplate {
  kind: string;
  spec?: { template?: { spec: { securityContext?: { runAsUser?: number }; containers: { command: string[] }[] } } };
}
const deployments = ['worker.yaml', 'receiver.yaml'].map((file) => {
  const docs = parseAllDocuments(read(path.join('deploy', file))).map((d) => d.toJS() as PodTemplate);
  return { file, pod: docs.find((d) => d.kind === 'Deployment')!.spec!.template!.spec };
});

describe('Dockerfile', () => {
  it('builds every stage from one Node image pinned to a full version the package supports', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const images = new Set(stages.map((s) => s.image));
    expect(images.size).toBe(1);
    const [image] = [...images];
    const match = /^node:(\d+)\.(\d+)\.(\d+)-[a-z]+(-slim)?$/.exec(image!);
    expect(match, `${image} is not pinned to a full Node version`).not.toBeNull();
    const [major, minor] = [Number(match![1]), Number(match![2])];
    // package.json engines: ">=20.19 <21 || >=22"
    expect((major === 20 && minor >= 19) || major >= 22, `${image} outside package.json engines`).toBe(true);
  });

  it('runtime stage: compiled JavaScript from the build stage, production dependencies, package.json; nothing run or added', () => {
    expect(runtime.instructions.filter((i) => !['ENV', 'WORKDIR', 'COPY', 'USER', 'CMD'].includes(i.op))).toEqual([]);
    const copied = copies(runtime).map((c) => ({ from: c.from, sources: c.sources.map(folder), destination: folder(c.destination) }));
    const fromAStage: unknown = expect.any(String);
    expect(copied).toEqual([
      { from: fromAStage, sources: ['/app/node_modules'], destination: 'node_modules' },
      { from: fromAStage, sources: ['/app/dist'], destination: 'dist' },
      { from: undefined, sources: ['package.json'], destination: '.' },
    ]);
    // node_modules from a stage that installed production dependencies only; dist from the one that built.
    expect(runs(stage(copied[0]!.from))).toEqual([expect.stringMatching(/^npm ci --omit=dev\b/)]);
    expect(copies(stage(copied[0]!.from)!).flatMap((c) => c.sources)).toEqual(['package.json', 'package-lock.json']);
    expect(runs(stage(copied[1]!.from))).toContain('npm run build');
    expect((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.build).toBe('tsc -p tsconfig.build.json && node dist/worker/build.js');
  });

  it('runs as a numeric non-root UID, the one deploy/ runs both Deployments as', () => {
    const users = runtime.instructions.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid ?? uid).toBeGreaterThan(0);
    for (const { file, pod } of deployments) expect(pod.securityContext?.runAsUser, file).toBe(uid);
  });

  it('starts the worker by default, and every command deploy/ runs is a compiled entry point of a folder the build compiles', () => {
    const cmd = runtime.instructions.find((i) => i.op === 'CMD')!;
    const worker = deployments.find((d) => d.file === 'worker.yaml')!.pod.containers[0]!.command;
    expect(JSON.parse(cmd.args)).toEqual(worker);
    const compiled = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include;
    for (const { file, pod } of deployments) {
      const [node, entry = ''] = pod.containers[0]!.command;
      expect(node, file).toBe('node');
      const source = /^dist\/(.+)\.js$/.exec(entry)?.[1];
      expect(source, `${file}: ${entry}`).toBeDefined();
      expect(compiled, file).toContain(source!.split('/')[0]);
      expect(existsSync(path.join(root, `${source}.ts`)), `${file}: ${source}.ts`).toBe(true);
    }
  });

  it('the build stage copies the folders tsconfig.build.json compiles, and .dockerignore lets exactly the copied files through', () => {
    const build = stage(copies(runtime)[1]!.from)!;
    const sources = copies(build).flatMap((c) => c.sources).map(folder);
    const { include } = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    expect(sources.sort()).toEqual([...include, 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'].sort());
    const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('**');
    const allowed = ignore.slice(1).map((l) => {
      expect(l.startsWith('!'), l).toBe(true);
      return folder(l.slice(1));
    });
    expect(allowed.sort()).toEqual([...new Set(stages.flatMap((s) => copies(s).filter((c) => !c.from).flatMap((c) => c.sources.map(folder))))].sort());
  });

  it('dist/ (the build output) is ignored by git and ESLint', async () => {
    expect(read('.gitignore').split('\n')).toContain('dist/');
    const eslint = new ESLint({ cwd: root });
    expect(await eslint.isPathIgnored(path.join(root, 'dist', 'worker', 'main.js'))).toBe(true);
    expect(await eslint.isPathIgnored(path.join(root, 'dist', '.build-test', 'worker', 'main.js'))).toBe(true);
  });
});
