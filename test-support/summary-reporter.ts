/**
 * Writes a short plain-text summary of a run to $VCP_TEST_SUMMARY: every failed test with the first
 * lines of its error, and every test that passed only on a retry. `make test` prints both suites'
 * summaries last, so the end of a CI log names what failed even though the suites' own output
 * interleaves above it, and a retried flake stays visible instead of passing silently.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

const ERROR_LINES = 6;

function firstLines(text: string): string {
  return text
    .split('\n')
    .slice(0, ERROR_LINES)
    .map((line) => `      ${line}`)
    .join('\n');
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const path = process.env.VCP_TEST_SUMMARY;
    if (!path) return;
    const failed: string[] = [];
    const flaky: string[] = [];
    let passed = 0;
    for (const testModule of testModules) {
      const file = relative(process.cwd(), testModule.moduleId);
      for (const error of testModule.errors()) failed.push(`  ${file} (the file itself)\n${firstLines(error.message)}`);
      for (const testCase of testModule.children.allTests()) {
        const result = testCase.result();
        const { retryCount, flaky: passedOnRetry } = testCase.diagnostic() ?? { retryCount: 0, flaky: false };
        if (result.state === 'failed') {
          const tries = retryCount > 0 ? ` (failed ${retryCount + 1} times)` : '';
          failed.push(`  ${file} > ${testCase.fullName}${tries}\n${firstLines(result.errors?.[0]?.message ?? 'no error message')}`);
        } else if (result.state === 'passed') {
          passed += 1;
          if (passedOnRetry) flaky.push(`  ${file} > ${testCase.fullName} (passed on try ${retryCount + 1})`);
        }
      }
    }
    for (const error of unhandledErrors) failed.push(`  unhandled error\n${firstLines(error.message ?? JSON.stringify(error))}`);
    const lines = [`${passed} passed, ${failed.length} failed, ${flaky.length} passed only on a retry`];
    if (failed.length > 0) lines.push('failed:', ...failed);
    if (flaky.length > 0) lines.push('passed only on a retry (flaky: look into it):', ...flaky);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${lines.join('\n')}\n`);
  }
}
