#!/usr/bin/env bash
# `make demo`: Hodegos end to end on the embedded local cluster.
#   1. a real control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok fake nodes);
#   2. the injection webhook on this host, registered with the API server;
#   3. an opted-in namespace, an InstrumentedApplication and a Deployment whose pods come out injected.
# The cluster stays up afterwards so you can look around; the last lines say how to tear it down.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:/usr/local/go/bin:$PATH"

NAME="${HODEGOS_DEMO_CLUSTER:-hodegos}"
NS=shop
bold() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

bold "Starting the local cluster '$NAME' (the first run builds Kubernetes from source: allow 20 minutes)"
hodegos cluster up --name "$NAME"
KUBECONFIG_PATH="$(hodegos cluster kubeconfig --name "$NAME")"
KUBECTL="$(python -c 'from toolchain import cluster; print(cluster.KUBERNETES.path("kubectl"))')"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
k get nodes -o wide

bold "Starting the injection webhook and registering it with the API server"
hodegos cluster webhook --name "$NAME"
k get mutatingwebhookconfiguration hodegos-pod-injection \
  -o custom-columns='NAME:.metadata.name,URL:.webhooks[0].clientConfig.url,FAILURE-POLICY:.webhooks[0].failurePolicy,TIMEOUT:.webhooks[0].timeoutSeconds'

bold "Opting namespace '$NS' in, with a record for Deployment 'checkout' (a Python app)"
k apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  annotations:
    hodegos.io/instrumentation: enabled
---
apiVersion: hodegos.io/v1alpha1
kind: InstrumentedApplication
metadata:
  name: deployment-checkout
  namespace: $NS
spec:
  workload: {kind: Deployment, name: checkout}
  options:
    sampler: {name: parentbased_traceidratio, argument: "0.5"}
EOF
# What the node agent writes once it has seen the process: the language of each container.
k -n "$NS" patch instrumentedapplication deployment-checkout --subresource=status --type=merge \
  -p '{"status":{"containers":[{"name":"app","language":"python","runtimeVersion":"3.12.4","libc":"glibc"}]}}'
k -n "$NS" get instrumentedapplications
sleep 1  # the webhook's watch cache sees the record within milliseconds; a second is plenty

bold "Creating Deployment 'checkout' (2 replicas); the ReplicaSet controller creates the pods"
k apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: $NS
spec:
  replicas: 2
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels: {app: checkout}
    spec:
      containers:
      - name: app
        image: registry.example/checkout:1.0
        env:
        - {name: PYTHONPATH, value: /srv/app/lib}
EOF
k -n "$NS" rollout status deployment/checkout --timeout=120s
k -n "$NS" get pods -o wide

POD="$(k -n "$NS" get pods -l app=checkout -o jsonpath='{.items[0].metadata.name}')"
bold "The injected pod $POD"
k -n "$NS" get pod "$POD" -o yaml
bold "In short"
k -n "$NS" get pod "$POD" -o go-template='injected rules: {{index .metadata.annotations "hodegos.io/injected"}}
per container:  {{index .metadata.annotations "hodegos.io/injection-status"}}
init containers:{{range .spec.initContainers}} {{.name}}{{end}}
volumes:        {{range .spec.volumes}} {{.name}}{{end}}
app env:
{{range (index .spec.containers 0).env}}  {{.name}}={{if .value}}{{.value}}{{else}}(from {{range $k, $v := .valueFrom}}{{$k}}{{end}}){{end}}
{{end}}'

cat <<EOF

Look around:
  export KUBECONFIG=$KUBECONFIG_PATH
  $KUBECTL get pods -A
  $KUBECTL -n $NS get instrumentedapplications
  $KUBECTL -n $NS scale deployment checkout --replicas=5    # new pods are injected too
  hodegos cluster status --name $NAME
  logs: $(dirname "$KUBECONFIG_PATH")/logs/
Tear down:
  hodegos cluster down --name $NAME
EOF
