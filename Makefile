# Every target installs what it needs: a fresh clone runs `make demo` or `make test` directly.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_STAMP := node_modules/.vcp-installed
DEMO_ENV := .stack/demo/env
TEST_ENV := .stack/test/env
# Test files mostly wait on the controllers, so more of them run at once than there are cores.
INTEGRATION_WORKERS ?= 3
TEST_FAULTS_ENV := .stack/test-faults/env
with_env = set -a; . $(1); set +a;

.PHONY: help deps tools build lint typecheck test test-unit test-only stack-up stack-down seed worker demo clean record-histories demo-identities bench-diagnostics bench-alerts bench-dynamodb bench-fleet

help:
	@echo "make demo        start the local stack, seed the demo instance, run the runbooks, leave the UI up"
	@echo "make test        unit tests, then install and start a separate test stack, run the integration tests, stop it"
	@echo "make test-unit   the unit tests alone (test/unit/: no stack needed)"
	@echo "make lint        eslint and the TypeScript type check"
	@echo "make stack-up    start the demo stack (Temporal + UI, moto, dynalite)"
	@echo "make stack-down  stop the demo stack and its worker"

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deps: $(NODE_STAMP)

tools:
	scripts/stack/install.sh

build: deps
	npm run build

typecheck: deps
	npx tsc -p tsconfig.json --noEmit

lint: typecheck
	npx eslint --max-warnings 0 .

stack-up: deps
	VCP_STACK_PROFILE=demo scripts/stack/up.sh

stack-down:
	VCP_STACK_PROFILE=demo scripts/stack/down.sh

seed: stack-up
	$(call with_env,$(DEMO_ENV)) npx tsx scripts/seed/main.ts demo

demo-identities: stack-up
	npx tsx scripts/demo-identities.ts .stack/demo

worker: stack-up demo-identities
	VCP_STACK_PROFILE=demo scripts/stack/worker.sh

demo: seed worker
	$(call with_env,$(DEMO_ENV)) npx tsx client/demo.ts demo
	$(call with_env,$(DEMO_ENV)) npx tsx scripts/demo-triage.ts demo
	$(call with_env,$(DEMO_ENV)) npx tsx scripts/demo-backups.ts demo
	@$(call with_env,$(DEMO_ENV)) echo; echo "Temporal UI: $$TEMPORAL_UI_URL"; echo "The stack keeps running; stop it with: make stack-down"

# Unit tests first (no stack), then the integration tests on a test stack that is separate (ports
# offset by 10000, its own state), started fresh and always stopped.
# test/server-faults.test.ts restarts servers, so it runs on a stack of its own (test-faults, ports
# offset by 15000) while the other tests run on the test stack: both stacks start together, both suites
# run together (its output is printed after theirs), and both stacks are stopped whatever happened.
test: test-unit
	VCP_STACK_PROFILE=test scripts/stack/down.sh
	VCP_STACK_PROFILE=test-faults scripts/stack/down.sh
	rm -rf .stack/test .stack/test-faults
	mkdir -p .stack
	scripts/stack/install.sh
	VCP_STACK_PROFILE=test scripts/stack/up.sh & test_up=$$!; \
	  faults_up=0; VCP_STACK_PROFILE=test-faults scripts/stack/up.sh >.stack/test-faults-up.log 2>&1 || faults_up=$$?; \
	  cat .stack/test-faults-up.log; test_status=0; wait $$test_up || test_status=$$?; \
	  if [ $$test_status != 0 ] || [ $$faults_up != 0 ]; then \
	    VCP_STACK_PROFILE=test scripts/stack/down.sh; VCP_STACK_PROFILE=test-faults scripts/stack/down.sh; exit 1; fi
	status=0; \
	  ( $(call with_env,$(TEST_FAULTS_ENV)) VCP_ALLOW_SERVER_RESTARTS=1 VCP_TEST_SUMMARY=.stack/test-faults/summary.txt \
	      npx vitest run --project server-faults ) >.stack/test-faults/vitest.log 2>&1 & faults=$$!; \
	  ( $(call with_env,$(TEST_ENV)) VCP_TEST_SUMMARY=.stack/test/summary.txt \
	      npx vitest run --project integration --maxWorkers=$(INTEGRATION_WORKERS) ) || status=$$?; \
	  wait $$faults || status=$$?; \
	  echo "== test/server-faults.test.ts, on the test-faults stack"; cat .stack/test-faults/vitest.log; \
	  VCP_STACK_PROFILE=test scripts/stack/down.sh; VCP_STACK_PROFILE=test-faults scripts/stack/down.sh; \
	  for suite in test test-faults; do echo "== summary: $$suite stack"; \
	    cat .stack/$$suite/summary.txt 2>/dev/null || echo "no summary: the suite did not finish"; done; \
	  exit $$status

test-unit: deps
	npx vitest run --project unit

# Runs the tests against an already running test stack (fast inner loop).
test-only: deps
	$(call with_env,$(TEST_ENV)) npx vitest run $(TESTS)

clean: stack-down
	VCP_STACK_PROFILE=test scripts/stack/down.sh
	rm -rf .stack dist

# Re-records the replay histories in test/histories against the test stack.
record-histories: deps
	VCP_STACK_PROFILE=test scripts/stack/up.sh
	$(call with_env,$(TEST_ENV)) npx tsx scripts/record-histories.ts $(RECORD_ARGS)

# Benchmarks print a table; they are not tests. They run against the test stack.
bench-diagnostics: deps
	VCP_STACK_PROFILE=test scripts/stack/up.sh
	$(call with_env,$(TEST_ENV)) npx tsx bench/diagnostics.ts

bench-alerts: deps
	VCP_STACK_PROFILE=test scripts/stack/up.sh
	$(call with_env,$(TEST_ENV)) npx tsx bench/alerts.ts

# DynamoDB export and import against their baselines (issue 6): 100k items; BENCH_ARGS="--items 1000000"
# or "--rss-growth" (export at 100k and 1M), "--skip-cli", "--cpu-prof", "--import-only".
bench-dynamodb: deps
	VCP_STACK_PROFILE=test scripts/stack/up.sh
	$(call with_env,$(TEST_ENV)) npx tsx bench/dynamodb.ts $(BENCH_ARGS)

# `runbook status --all` over 50 seeded instances against the guide's per-instance commands run one
# after another (issue 16; target <= 0.2x); BENCH_ARGS="--instances 10", "--runs 5", "--keep".
bench-fleet: deps
	VCP_STACK_PROFILE=test scripts/stack/up.sh
	$(call with_env,$(TEST_ENV)) npx tsx bench/fleet-status.ts $(BENCH_ARGS)
