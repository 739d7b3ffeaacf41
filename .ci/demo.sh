#!/usr/bin/env bash
# `make demo`: Hodegos end to end on the embedded local cluster.
#   1. a real control plane (etcd, kube-apiserver, controller-manager, scheduler) and a real node
#      (containerd + kubelet + kube-proxy in namespaces of its own, CoreDNS, metrics-server);
#   2. the Python agent image (from toolchain/recipes/python) and a small Python app image, written as OCI
#      archives and loaded into the node with `hodegos cluster load` (no registry, no Docker);
#   3. the injection webhook on this host, registered with the API server;
#   4. an opted-in namespace, an InstrumentedApplication and a Deployment whose pods come out injected, and
#      whose app process really starts with the agent: its /proc/1/environ and its own log say so.
# The cluster stays up afterwards so you can look around; the last lines say how to tear it down.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:/usr/local/go/bin:$PATH"

NAME="${HODEGOS_DEMO_CLUSTER:-hodegos}"
NS=shop
bold() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

bold "Starting the local cluster '$NAME' with one real node (the first run builds from source: allow 30 minutes)"
hodegos cluster up --name "$NAME" --nodes 1
KUBECONFIG_PATH="$(hodegos cluster kubeconfig --name "$NAME")"
KUBECTL="$(python -c 'from toolchain import cluster; print(cluster.KUBERNETES.path("kubectl"))')"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
k get nodes -o wide

bold "Making the agent and app images (OCI archives) and loading them into the node"
APP_DIR="$(mktemp -d)"
cat > "$APP_DIR/checkout.py" <<'PY'
"""The demo's checkout service: says whether the OpenTelemetry agent was loaded at start-up, then serves."""
import http.server, os, sys
loaded = any(m.startswith("opentelemetry") for m in sys.modules)
print(f"checkout: pid {os.getpid()}, OpenTelemetry agent loaded at start-up: {loaded}", flush=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"checkout ok\n")
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
PY
read -r AGENT_TAR APP_TAR < <(python - "$APP_DIR/checkout.py" <<'PY'
import sys
from pathlib import Path
from toolchain import localimages
agent = localimages.agent_archive("python")
app = localimages.app_image("localhost/hodegos-demo/checkout:1", {"/app/checkout.py": Path(sys.argv[1])},
                            cmd=["python3", "/app/checkout.py"])
print(agent, app)
PY
)
hodegos cluster load --name "$NAME" "$AGENT_TAR" "$APP_TAR"

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
  -p '{"status":{"containers":[{"name":"app","language":"python","runtimeVersion":"3.11.2","libc":"glibc"}]}}'
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
        image: localhost/hodegos-demo/checkout:1
        imagePullPolicy: Never
        env:
        - {name: PYTHONPATH, value: /srv/app/lib}
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
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

bold "The app process in $POD really started with the injected environment"
echo "/proc/1/environ of container 'app' (the python3 process):"
k -n "$NS" exec "$POD" -c app -- cat /proc/1/environ | tr '\0' '\n' | grep -E '^(PYTHONPATH|OTEL_[A-Z_]+)=' | sed 's/^/  /'
echo "its own log:"
k -n "$NS" logs "$POD" -c app | sed 's/^/  /'
k -n "$NS" logs "$POD" -c app | grep -q "agent loaded at start-up: True"

cat <<EOF

Look around:
  export KUBECONFIG=$KUBECONFIG_PATH
  $KUBECTL get pods -A -o wide
  $KUBECTL top pods -A
  $KUBECTL -n $NS get instrumentedapplications
  $KUBECTL -n $NS scale deployment checkout --replicas=5    # new pods are injected too
  hodegos cluster status --name $NAME
  logs: $(dirname "$KUBECONFIG_PATH")/logs/
Tear down:
  hodegos cluster down --name $NAME
EOF
