#!/usr/bin/env bash
# Builds the simulator's control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl) and kwok from their Go modules into a cache outside the repo, keyed by version.
# A second run with the same versions finds the stamp file and returns at once.
# NKSR_SIM_BIN_DIR points at prebuilt binaries instead (nothing is built then).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE_ROOT="${NKSR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nks-remediation}"
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
OUT="${CACHE_ROOT}/sim-bin/${KEY}"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

log() { printf '[sim-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# kwok's Stage CRD ships in its module source, not in the binary; `sim up` installs it from here.
STAGE_CRD="kwok.x-k8s.io_stages.yaml"
copy_stage_crd() {
  [[ -f "${OUT}/crd/${STAGE_CRD}" ]] && return 0
  command -v go >/dev/null || return 0
  local src
  src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@${KWOK_VERSION}/kustomize/crd/bases/${STAGE_CRD}"
  [[ -f "$src" ]] || (cd /tmp && go mod download "sigs.k8s.io/kwok@${KWOK_VERSION}") >/dev/null 2>&1 || true
  [[ -f "$src" ]] && mkdir -p "${OUT}/crd" && cp "$src" "${OUT}/crd/${STAGE_CRD}"
  return 0
}

# A long `go build` prints nothing; say every 30 s that it is still going.
with_ticker() {
  local what="$1"; shift
  local t0=$SECONDS
  ( while sleep 30 && kill -0 $$ 2>/dev/null; do log "  ... still building ${what} ($(( SECONDS - t0 ))s)"; done ) &
  local ticker=$!
  local rc=0
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$rc"
}

current_step="start"
trap 'rc=$?; [[ $rc -eq 0 ]] || log "FAILED while ${current_step} (exit ${rc}); rerun to resume (finished binaries are kept), or set NKSR_SIM_BIN_DIR to prebuilt binaries"' EXIT

if [[ -n "${NKSR_SIM_BIN_DIR:-}" ]]; then
  for b in "${BINARIES[@]}"; do
    [[ -x "${NKSR_SIM_BIN_DIR}/$b" ]] || { log "NKSR_SIM_BIN_DIR=${NKSR_SIM_BIN_DIR} lacks executable $b"; exit 1; }
  done
  echo "${NKSR_SIM_BIN_DIR}"
  exit 0
fi

if [[ -f "${OUT}/.complete" ]]; then
  copy_stage_crd
  echo "${OUT}/bin"
  exit 0
fi

command -v go >/dev/null || { log "go is not installed; install Go >= 1.24 or set NKSR_SIM_BIN_DIR"; exit 1; }
mkdir -p "${OUT}/bin" "${OUT}/src"
exec 9>"${OUT}/.lock"
flock 9
[[ -f "${OUT}/.complete" ]] && { copy_stage_crd; echo "${OUT}/bin"; exit 0; }

export GOFLAGS="-mod=mod" CGO_ENABLED=0
start=$(date +%s)

# --- Kubernetes: k8s.io/kubernetes is not meant to be required from outside its repo; its go.mod
# replaces every staging module with a local path. We replace each with the published v0.x of the
# same minor instead.
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
kdir="${OUT}/src/kubernetes"
mkdir -p "$kdir"
if [[ ! -f "$kdir/go.sum" ]]; then
  current_step="resolving k8s.io/kubernetes"
  log "resolving k8s.io/kubernetes ${K8S_VERSION} (staging modules at ${STAGING_VERSION})"
  modfile=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  {
    echo "module nksr.local/simbuild/kubernetes"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"${STAGING_VERSION}"'#p' "$modfile"
    echo ")"
  } >"$kdir/go.mod"
  cat >"$kdir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$kdir" && go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$kdir" && go mod download all >/dev/null 2>&1 || true)
fi
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}"
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  if [[ ! -x "${OUT}/bin/$cmd" ]]; then
    current_step="building $cmd"
    log "building $cmd ${K8S_VERSION} (the slow part: minutes per binary on a small machine)"
    with_ticker "$cmd" bash -c 'cd "$1" && go build -trimpath -ldflags "$2" -o "$3" "k8s.io/kubernetes/cmd/$4"' _ \
      "$kdir" "$ldflags" "${OUT}/bin/$cmd" "$cmd"
    log "built $cmd ($(( $(date +%s) - start ))s so far)"
  fi
done

# --- etcd: its server module carries replace directives, so `go install pkg@version` refuses it;
# a tiny wrapper module that calls etcdmain builds the same server.
edir="${OUT}/src/etcd"
mkdir -p "$edir"
if [[ ! -x "${OUT}/bin/etcd" ]]; then
  current_step="building etcd"
  log "building etcd ${ETCD_VERSION}"
  cat >"$edir/go.mod" <<GOMOD
module nksr.local/simbuild/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
GOMOD
  cat >"$edir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  with_ticker etcd bash -c 'cd "$1" && go mod tidy >/dev/null && go build -trimpath -ldflags "-s -w" -o "$2" .' _ \
    "$edir" "${OUT}/bin/etcd"
  log "built etcd ($(( $(date +%s) - start ))s so far)"
fi

# --- kwok
if [[ ! -x "${OUT}/bin/kwok" ]]; then
  current_step="building kwok"
  log "building kwok ${KWOK_VERSION}"
  with_ticker kwok env GOBIN="${OUT}/bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
  log "built kwok ($(( $(date +%s) - start ))s so far)"
fi

current_step="checking the result"
copy_stage_crd
for b in "${BINARIES[@]}"; do [[ -x "${OUT}/bin/$b" ]] || { log "missing $b after build"; exit 1; }; done
echo "$(( $(date +%s) - start ))" >"${OUT}/build-seconds"
touch "${OUT}/.complete"
log "all binaries ready in ${OUT}/bin ($(( $(date +%s) - start ))s)"
echo "${OUT}/bin"
