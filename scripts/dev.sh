#!/usr/bin/env bash
# The README's first command: install what is missing, then run the product on its embedded default
# (Temporal dev server with UI, the simulated NKS cluster, the worker) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npm start -- "$@"
