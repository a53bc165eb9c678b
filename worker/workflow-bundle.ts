/**
 * The workflow code a worker runs, and the build ID that names it. `npm run build` prebundles the
 * workflows into dist/workflow-bundle.js (worker/build.ts), so the compiled worker starts without
 * webpack and without writing anywhere (the image's root filesystem is read-only); run from source
 * (tsx, tests), the worker bundles at start as the SDK would.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { Logger } from '@temporalio/common';

/** Where the build puts the bundle: beside the compiled folders, in dist/. */
export const PREBUILT_BUNDLE_FILE = 'workflow-bundle.js';

export interface WorkflowBundle {
  code: string;
  /** The file it was read from, or the entry point bundled at start. */
  origin: string;
}

/** The workflows' entry point next to this file's folder: compiled JavaScript in dist/, TypeScript in the source tree. */
export function workflowsEntry(root = path.join(__dirname, '..')): string {
  const entry = path.join(root, 'workflows', 'index');
  const found = ['.js', '.ts'].map((ext) => entry + ext).find((file) => existsSync(file));
  if (!found) throw new Error(`workflow entry point ${entry}.{js,ts} not found`);
  return found;
}

export async function bundleWorkflows(workflowsPath: string, logger?: Logger): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath, ...(logger ? { logger } : {}) });
  return code;
}

/** The prebuilt bundle when this code was compiled by `npm run build`, else the workflows bundled now. */
export async function loadWorkflowBundle(logger?: Logger): Promise<WorkflowBundle> {
  const prebuilt = path.join(__dirname, '..', PREBUILT_BUNDLE_FILE);
  if (existsSync(prebuilt)) return { code: readFileSync(prebuilt, 'utf8'), origin: prebuilt };
  const entry = workflowsEntry();
  return { code: await bundleWorkflows(entry, logger), origin: entry };
}

/**
 * The default build ID: the package version and the first 12 hex digits of the bundle's SHA-256.
 * The same workflow code always gets the same ID (the bundle holds no paths or timestamps), and any
 * change to it (workflows or what they import) a new one, so a run is pinned to exactly the code it
 * started on. Activity-only changes keep the ID; deploy/ sets VCP_BUILD_ID to the image tag instead,
 * which changes with every image.
 */
export function defaultBuildId(bundleCode: string, version = packageVersion()): string {
  return `${version}-${createHash('sha256').update(bundleCode).digest('hex').slice(0, 12)}`;
}

function packageVersion(): string {
  return readPackageJson(projectRoot()).version;
}

/** The folder holding this project's package.json: above the source folders, or above dist/ (or a build folder inside it). */
export function projectRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && readPackageJson(dir).name === 'vcp-runbooks') return dir;
    if (path.dirname(dir) === dir) throw new Error(`package.json of vcp-runbooks not found above ${from}: set VCP_BUILD_ID`);
  }
}

function readPackageJson(dir: string): { name?: string; version: string } {
  return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version: string };
}
