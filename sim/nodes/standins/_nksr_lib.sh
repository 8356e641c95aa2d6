# Shared by the simulator's node stand-ins (sourced, not run). Each simulated node sees its own state
# directory at NKSR_STATE because its sshd runs in a mount namespace with that path bind-mounted.
NKSR_STATE=/var/lib/nksr-sim

# Appends one line per call: UTC timestamp, caller uid, argv (shell-quoted), so tests can assert what ran.
nksr_log_call() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) uid=$(id -u)"
  local a
  for a in "$@"; do line+=" $(printf '%q' "$a")"; done
  printf '%s\n' "$line" >>"$NKSR_STATE/calls.log" 2>/dev/null || true
}

nksr_is_root() { [ "$(id -u)" = 0 ]; }

# Runs "$@" holding the node's state lock, so parallel SSH sessions do not interleave state edits.
nksr_locked() {
  (
    flock -x 9
    "$@"
  ) 9>"$NKSR_STATE/.lock"
}
