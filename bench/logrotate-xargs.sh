#!/bin/bash
# Plain parallel baseline for `npm run bench -- logrotate` (not the guide's script, not our workflow):
# `xargs -P` over `ssh`, md5sum on each node, then copy+install where it differs. Host keys are
# verified against the simulator's known_hosts (StrictHostKeyChecking=yes), no agent, no config file.
#
#   logrotate-xargs.sh KEY KNOWN_HOSTS LOCAL_CONFIG PARALLEL NODE_IP...
set -o errexit -o nounset -o pipefail
export KEY="$1" KNOWN="$2" LOCAL_CONFIG="$3"
PARALLEL="$4"
shift 4
export REMOTE_CONFIG=/etc/logrotate.d/docker
export WANT
WANT=$(md5sum "$LOCAL_CONFIG" | awk '{print $1}')

sync_one() {
  local ip="$1" have
  local ssh=(ssh -F /dev/null -i "$KEY" -o "UserKnownHostsFile=$KNOWN" -o StrictHostKeyChecking=yes
    -o BatchMode=yes -o ConnectTimeout=20 "centos@$ip")
  have=$("${ssh[@]}" "md5sum $REMOTE_CONFIG 2>/dev/null || true" | awk '{print $1}')
  if [ "$have" = "$WANT" ]; then
    echo "$ip in-sync"
    return 0
  fi
  # Copy over stdin and install atomically as root (one session), then print the new hash.
  have=$("${ssh[@]}" "t=\$(mktemp) && cat > \"\$t\" && sudo install -m 0644 -o root -g root \"\$t\" $REMOTE_CONFIG && rm -f \"\$t\" && md5sum $REMOTE_CONFIG" <"$LOCAL_CONFIG" | awk '{print $1}')
  if [ "$have" = "$WANT" ]; then echo "$ip synced"; else echo "$ip FAILED" >&2; return 1; fi
}
export -f sync_one

printf '%s\n' "$@" | xargs -P "$PARALLEL" -I{} bash -c 'sync_one "$1"' _ {}
