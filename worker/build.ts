/**
 * The last step of `npm run build`, after tsc: prebundles the compiled workflows into
 * dist/workflow-bundle.js (the compiled worker loads it instead of running webpack at start, so it
 * writes nothing and its build ID is the bundle's hash) and copies the files the compiled code reads
 * beside itself. Run as `node dist/worker/build.js`; it writes into the folder it was compiled to.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflows, defaultBuildId, PREBUILT_BUNDLE_FILE, projectRoot, workflowsEntry } from './workflow-bundle';

/** Non-TypeScript files the compiled code reads relative to itself (tsc copies only what it compiles). */
const ASSETS = ['receiver/default-rules.yaml'];

async function main(): Promise<void> {
  const outDir = path.join(__dirname, '..');
  const root = projectRoot();
  const code = await bundleWorkflows(workflowsEntry(outDir));
  writeFileSync(path.join(outDir, PREBUILT_BUNDLE_FILE), code);
  for (const asset of ASSETS) {
    mkdirSync(path.dirname(path.join(outDir, asset)), { recursive: true });
    copyFileSync(path.join(root, asset), path.join(outDir, asset));
  }
  console.log(`workflows bundled into ${path.join(outDir, PREBUILT_BUNDLE_FILE)} (${code.length} bytes; default build ID ${defaultBuildId(code)})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
