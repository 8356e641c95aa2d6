#!/bin/bash
# Plain-kubectl baseline for `npm run bench -- calico --baseline raw` (not the guide's script, not our
# workflow): what someone in a hurry would write. Every node×image pre-pull pod is created at once (one
# `kubectl create`), all of them are polled together until each container runs or has run (any
# ErrImagePull/ImagePullBackOff fails the whole run), they are deleted, then the guide's three
# `kubectl set image` + `kubectl rollout status` steps run in the guide's order with its timeouts.
# No failure budget, no per-node report, no cleanup on interruption, no resumption.
#
#   KUBECONFIG=... PATH=<kubectl dir>:$PATH calico-raw.sh [POLL_SECONDS]
set -o errexit -o nounset -o pipefail
poll="${1:-2}"
tag="v3.24.1"
ns="kube-system"
images=("calico/cni:$tag" "calico/node:$tag" "calico/typha:$tag" "calico/kube-controllers:$tag")
run="raw-$$"

nodes=$(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')
count=0
manifest=$(
  for node in $nodes; do
    for image in "${images[@]}"; do
      cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  generateName: prepull-
  namespace: $ns
  labels: {nksr-bench-raw: "$run"}
spec:
  nodeName: $node
  restartPolicy: Never
  tolerations: [{operator: Exists}]
  containers: [{name: pull, image: "$image", command: [sleep, "1"]}]
EOF
    done
  done
)
total=$(($(wc -w <<<"$nodes") * ${#images[@]}))
echo "creating $total pre-pull pods"
kubectl create -f - <<<"$manifest" >/dev/null

while :; do
  states=$(kubectl get pods -n "$ns" -l "nksr-bench-raw=$run" \
    -o jsonpath='{range .items[*]}{.status.containerStatuses[0].state}{"\n"}{end}')
  if grep -Eq 'ErrImagePull|ImagePullBackOff' <<<"$states"; then
    echo "a pre-pull failed" >&2
    exit 1
  fi
  count=$(grep -Ec 'running|terminated' <<<"$states" || true)
  echo "pre-pulled $count/$total"
  [ "$count" -ge "$total" ] && break
  sleep "$poll"
done
kubectl delete pods -n "$ns" -l "nksr-bench-raw=$run" --wait=false >/dev/null

node_count=$(wc -w <<<"$nodes")
kubectl set image daemonset/calico-node -n "$ns" "calico-node=calico/node:$tag" \
  "install-cni=calico/cni:$tag" "mount-bpffs=calico/node:$tag"
kubectl rollout status daemonset/calico-node -n "$ns" --timeout=$((node_count * 4))m
kubectl set image deployment/calico-kube-controllers -n "$ns" \
  "calico-kube-controllers=calico/kube-controllers:$tag"
kubectl rollout status deployment/calico-kube-controllers -n "$ns" --timeout=4m
kubectl set image deployment/calico-typha -n "$ns" "calico-typha=calico/typha:$tag"
kubectl rollout status deployment/calico-typha -n "$ns" --timeout=4m
echo "done"
