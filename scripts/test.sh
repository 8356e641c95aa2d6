#!/usr/bin/env bash
# The test command of the README and of CI: installs what it needs, then runs every check and test
# against real servers (Temporal dev server, the simulator's Kubernetes API and OpenSSH nodes), which
# the integration suite starts and stops itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
t0=$(date +%s)
echo "== typecheck";   npm run -s typecheck
echo "== lint";        npm run -s lint
echo "== format";      npm run -s format:check
echo "== generated files"; npm run -s generate -- --check
if command -v docker-compose >/dev/null; then
  echo "== docker-compose.yml"; POSTGRES_PASSWORD=config-check-only docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml is valid"
fi
echo "== worker image build steps"; bash scripts/check-worker-image.sh 2>&1 | grep -v "^npm warn"
echo "== unit tests";        npx jest --config jest.unit.config.js
echo "== integration tests"; npx jest --config jest.integration.config.js --runInBand
# A small fixed-seed selection of the fault suite (npm run faults; README "Fault suite"): one
# faulted calicoImageRepair per scenario kind that matters most (the cancel lands in the pre-pull,
# issue 14 defect 1), and two logrotateSync runs (seed 14 draws sshd-stop and cancel), each compared
# with an uninterrupted run of its procedure.
echo "== fault suite (seed 14)"; npm run -s faults -- --runs 4 --seed 14 --procedure calico,logrotate:2 \
  --scenarios worker-kill-after-side-effect,temporal-restart,apiserver-restart,sshd-stop,cancel
echo "== all checks passed in $(( $(date +%s) - t0 ))s (after setup)"
