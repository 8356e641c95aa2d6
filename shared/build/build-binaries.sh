#!/usr/bin/env bash
# Builds the shared deployment's binaries from their Go modules into a cache outside the repo, keyed
# by the pinned versions and by the wrapper's sources: the Temporal server with the project's claim
# mapper and role authorizer (shared/temporal-server), the server's SQL schema tool, the Temporal UI
# server and helm. A second run with the same key finds the stamp file and returns at once.
# Prints the bin dir on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

UI_SERVER_VERSION="${UI_SERVER_VERSION:-v2.54.1}"
HELM_VERSION="${HELM_VERSION:-v3.21.4}"
# The server version is the one go.mod pins (the version the dev server reports).
SERVER_VERSION=$(sed -n 's#^[[:space:]]*go.temporal.io/server \(v[0-9.]*\)$#\1#p' temporal-server/go.mod)
[[ -n "$SERVER_VERSION" ]] || { echo "[shared-build] no go.temporal.io/server version in temporal-server/go.mod" >&2; exit 1; }
CACHE_ROOT="${NKSR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nks-remediation}"
SRC_HASH=$(cat temporal-server/go.mod temporal-server/go.sum temporal-server/*.go temporal-server/sqltool/*.go | sha256sum | cut -c1-12)
OUT="${CACHE_ROOT}/shared-bin/server-${SERVER_VERSION}_ui-${UI_SERVER_VERSION}_helm-${HELM_VERSION}_src-${SRC_HASH}"

log() { printf '[shared-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ -f "${OUT}/.complete" ]]; then echo "${OUT}/bin"; exit 0; fi
command -v go >/dev/null || { log "go is not installed; install Go >= 1.24"; exit 1; }
mkdir -p "${OUT}/bin" "${OUT}/src"
exec 9>"${OUT}/.lock"
flock 9
[[ -f "${OUT}/.complete" ]] && { echo "${OUT}/bin"; exit 0; }
export CGO_ENABLED=0
start=$(date +%s)
step() { log "building $1 ($(( $(date +%s) - start ))s so far)"; }

if [[ ! -x "${OUT}/bin/nksr-temporal-server" ]]; then
  step "nksr-temporal-server (go.temporal.io/server ${SERVER_VERSION}; the slow one)"
  (cd temporal-server && go build -trimpath -ldflags "-s -w" -o "${OUT}/bin/nksr-temporal-server" .)
fi
if [[ ! -x "${OUT}/bin/temporal-sql-tool" ]]; then
  step "temporal-sql-tool"
  (cd temporal-server && go build -trimpath -ldflags "-s -w" -o "${OUT}/bin/temporal-sql-tool" ./sqltool)
fi
# The UI server and helm carry replace directives or are not main modules of ours: a wrapper module
# requiring each at its pinned version builds the same command.
build_tool() {
  local name="$1" module="$2" version="$3" pkg="$4"
  [[ -x "${OUT}/bin/${name}" ]] && return 0
  step "${name} (${module} ${version})"
  local dir="${OUT}/src/${name}"
  mkdir -p "$dir"
  printf 'module nksr.local/shared/%s\n\ngo 1.24.0\n\nrequire %s %s\n' "$name" "$module" "$version" >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$dir/tools.go"
  (cd "$dir" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true)
  (cd "$dir" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "${OUT}/bin/${name}" "$pkg")
}
build_tool temporal-ui-server github.com/temporalio/ui-server/v2 "$UI_SERVER_VERSION" github.com/temporalio/ui-server/v2/cmd/server
build_tool helm helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm

for b in nksr-temporal-server temporal-sql-tool temporal-ui-server helm; do
  [[ -x "${OUT}/bin/$b" ]] || { log "missing $b after build"; exit 1; }
done
echo "$(( $(date +%s) - start ))" >"${OUT}/build-seconds"
touch "${OUT}/.complete"
log "shared deployment binaries ready in ${OUT}/bin ($(( $(date +%s) - start ))s)"
echo "${OUT}/bin"
