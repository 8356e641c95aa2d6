#!/usr/bin/env bash
# The test command of the README and of CI: installs what it needs, then runs every check and test
# against real servers (Temporal dev server, the simulator's Kubernetes API and OpenSSH nodes), which
# the integration suite starts and stops itself.
set -euo pipefail
cd "$(dirname "$0")/.."
# Hundreds of SSH sessions, sockets and log files at once: a 1024 soft limit is not enough.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
s0=$(date +%s)
bash scripts/setup.sh
t0=$(date +%s)
echo "== setup took $(( t0 - s0 ))s"
# Each heading carries the seconds since setup ended, so a slow phase shows in the log.
step() { echo "== $* (+$(( $(date +%s) - t0 ))s)"; }

# The integration files run in a shuffled order; NKSR_TEST_SEED=<n> repeats one, NKSR_TEST_ORDER=reverse
# runs them in reverse path order (test/seeded-sequencer.js).
export NKSR_TEST_SEED="${NKSR_TEST_SEED:-$(( (RANDOM << 15 | RANDOM) % 1000000 ))}"
if [ "${NKSR_TEST_ORDER:-shuffle}" = shuffle ]; then
  echo "== test order: seed $NKSR_TEST_SEED (NKSR_TEST_SEED=$NKSR_TEST_SEED bash scripts/test.sh repeats it)"
else
  echo "== test order: ${NKSR_TEST_ORDER}"
fi

# Every simulator of this run gets a /24 and a state dir derived from one base (sim/testing.ts
# testSimPlace); a base is claimed with a lock directory, so runs side by side never share one.
claim_run_base() {
  local base lock pid
  for base in $(seq 20 10 240); do
    lock="/tmp/nksr-test-run-$base.lock"
    if ! mkdir "$lock" 2>/dev/null; then
      pid=$(cat "$lock/pid" 2>/dev/null || true)
      # A lock whose run is gone is taken over; one being written (no pid yet) is left alone.
      if [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null; then continue; fi
      rm -rf "$lock"
      mkdir "$lock" 2>/dev/null || continue
    fi
    echo "$$" >"$lock/pid"
    echo "$base"
    return 0
  done
  echo "no free test run base in /tmp/nksr-test-run-*.lock (20..240)" >&2
  return 1
}
if [ -z "${NKSR_TEST_RUN_BASE:-}" ]; then
  NKSR_TEST_RUN_BASE=$(claim_run_base)
  trap 'rm -rf "/tmp/nksr-test-run-$NKSR_TEST_RUN_BASE.lock"' EXIT
fi
export NKSR_TEST_RUN_BASE
echo "== simulators of this run: 127.0.$NKSR_TEST_RUN_BASE.0/24 and the next 8 (.sim-tests/$NKSR_TEST_RUN_BASE)"
step typecheck; npm run -s typecheck
step lint; npm run -s lint
step format; npm run -s format:check
step generated files; npm run -s generate -- --check
if command -v docker-compose >/dev/null; then
  echo "== docker-compose.yml"; POSTGRES_PASSWORD=config-check-only NKSR_JWKS_URL=https://example.invalid/jwks NKSR_WORKER_TOKEN=config-check-only docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml is valid"
fi
step worker image build steps; bash scripts/check-worker-image.sh 2>&1 | grep -v "^npm warn"
step unit tests; npx jest --config jest.unit.config.js
step integration tests
# Beside the main integration run, on simulators and Temporal servers of their own, one after the
# other: calico-dead-apiserver (~9 minutes mostly waiting with its API server stopped: bounds of
# minutes are what it proves) with the two files that bring up simulators of their own
# (sim-control-plane, calico-two-workers, and shared-deployment-faults: 50 nodes on the shared
# deployment under a server kill, a PostgreSQL restart and a worker lost), then a small fixed-seed selection of the fault suite
# (npm run faults; faults/README.md): one faulted calicoImageRepair per scenario kind that matters
# most (the cancel lands in the pre-pull), two logrotateSync runs (seed 14 draws sshd-stop and cancel)
# and one rolling reboot (disableKmemAccounting), each compared with an uninterrupted run of its
# procedure. Their output follows the main run's.
SIDE_FILES=(calico-dead-apiserver sim-control-plane calico-two-workers shared-deployment-faults)
side_log=$(mktemp)
(
  set +e
  echo "== integration tests: ${SIDE_FILES[*]} (ran alongside)"
  # NKSR_TEST_LAST names files of the main run; these are not among them.
  env -u NKSR_TEST_LAST NKSR_TEST_SIM_ROLE=dead-apiserver \
    npx jest --config jest.integration.config.js --runInBand "${SIDE_FILES[@]/#/test/integration/}"
  dead_rc=$?
  echo "== fault suite (seed 14, ran alongside)"
  npm run -s faults -- --runs 4 --seed 14 --procedure calico,logrotate:2,kmem:1 \
    --scenarios worker-kill-after-side-effect,temporal-restart,apiserver-restart,sshd-stop,cancel
  faults_rc=$?
  [ "$dead_rc" -eq 0 ] && [ "$faults_rc" -eq 0 ]
) >"$side_log" 2>&1 &
side_pid=$!
main_rc=0
npx jest --config jest.integration.config.js --runInBand --testPathIgnorePatterns "${SIDE_FILES[@]}" || main_rc=$?
side_rc=0
wait "$side_pid" || side_rc=$?
step main integration run done, the side run output follows
cat "$side_log"; rm -f "$side_log"
if [ "$main_rc" -ne 0 ] || [ "$side_rc" -ne 0 ]; then exit 1; fi
echo "== all checks passed in $(( $(date +%s) - t0 ))s (after setup)"
