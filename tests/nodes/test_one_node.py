"""Pods that really run, on one real node: images loaded without a registry, logs, volumes, the downward API,
memory limits, Services and DNS, the API from a pod, exec, port-forward and metrics."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from tests.nodes.conftest import BUSYBOX, PROBE_IMAGE, RealCluster
from tests.support import wait
from toolchain import cluster as tools

pytestmark = pytest.mark.cluster


def test_loaded_image_runs_and_its_logs_read_back(one_node: RealCluster) -> None:
    ns = one_node.namespace()
    one_node.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: hello, namespace: {ns}}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {PROBE_IMAGE}
    imagePullPolicy: Never
    command: [python3, -c, "import platform; print('hello from', platform.python_version())"]
""")
    pod = one_node.wait_phase(ns, "hello", {"Succeeded", "Failed"})
    assert pod["status"]["phase"] == "Succeeded", pod["status"]
    assert pod["spec"]["nodeName"] == f"{one_node.name}-worker-1"
    assert one_node.kubectl("-n", ns, "logs", "hello").stdout.startswith("hello from 3.11")


def test_init_container_fills_an_empty_dir_the_main_container_serves(one_node: RealCluster) -> None:
    ns = one_node.namespace()
    one_node.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: {ns}}}
spec:
  initContainers:
  - name: fill
    image: {BUSYBOX}
    imagePullPolicy: Never
    command: [sh, -c, "echo written-by-init > /www/index.html"]
    volumeMounts: [{{name: www, mountPath: /www}}]
  containers:
  - name: httpd
    image: {BUSYBOX}
    imagePullPolicy: Never
    command: [httpd, -f, -p, "8080", -h, /www]
    volumeMounts: [{{name: www, mountPath: /www}}]
  volumes: [{{name: www, emptyDir: {{}}}}]
""")
    one_node.wait_ready(ns, "web")
    served = one_node.kubectl(
        "-n", ns, "exec", "web", "-c", "httpd", "--", "wget", "-qO-", "http://127.0.0.1:8080/"
    )
    assert served.stdout.strip() == "written-by-init"


def test_downward_api_env_holds_pod_ip_node_name_and_host_ip(one_node: RealCluster) -> None:
    ns = one_node.namespace()
    one_node.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: env, namespace: {ns}}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {BUSYBOX}
    imagePullPolicy: Never
    command: [sh, -c, 'echo "$POD_IP $NODE_NAME $HOST_IP"']
    env:
    - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
    - {{name: NODE_NAME, valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}}}
    - {{name: HOST_IP, valueFrom: {{fieldRef: {{fieldPath: status.hostIP}}}}}}
""")
    pod = one_node.wait_phase(ns, "env", {"Succeeded", "Failed"})
    pod_ip, node_name, host_ip = one_node.kubectl("-n", ns, "logs", "env").stdout.split()
    assert pod_ip == pod["status"]["podIP"] and pod_ip.startswith("10.244.1.")
    assert node_name == f"{one_node.name}-worker-1"
    assert host_ip == "172.30.0.11" == pod["status"]["hostIP"]


def test_memory_limit_is_enforced(one_node: RealCluster) -> None:
    ns = one_node.namespace()
    one_node.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: hog, namespace: {ns}}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {BUSYBOX}
    imagePullPolicy: Never
    command: [dd, if=/dev/zero, of=/dev/null, bs=256M, count=1]
    resources: {{limits: {{memory: 48Mi}}}}
""")
    pod = one_node.wait_phase(ns, "hog", {"Succeeded", "Failed"})
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137), terminated


def test_service_cluster_ip_and_dns_name_reach_a_pod_from_another_pod(one_node: RealCluster) -> None:
    ns = one_node.namespace()
    one_node.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: server, namespace: {ns}, labels: {{app: server}}}}
spec:
  containers:
  - name: main
    image: {PROBE_IMAGE}
    imagePullPolicy: Never
    args: [python3, /app/probe.py, serve, "8080"]
    env:
    - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
    - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
    readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: server, namespace: {ns}}}
spec:
  selector: {{app: server}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {ns}}}
spec:
  containers:
  - {{name: main, image: {PROBE_IMAGE}, imagePullPolicy: Never, command: [sleep, "3600"]}}
""")
    pod = one_node.wait_ready(ns, "server")
    one_node.wait_ready(ns, "client")
    cluster_ip = json.loads(one_node.kubectl("-n", ns, "get", "service", "server", "-o", "json").stdout)[
        "spec"
    ]["clusterIP"]
    expected = f"server {pod['status']['podIP']}"
    for target in (cluster_ip, "server", f"server.{ns}.svc.cluster.local"):

        def fetch(target: str = target) -> str:
            code = (
                f"import urllib.request as u; print(u.urlopen('http://{target}/', timeout=3).read().decode())"
            )
            out = one_node.kubectl("-n", ns, "exec", "client", "--", "python3", "-c", code, check=False)
            return out.stdout.strip()

        assert wait(f"{target} answering from the client pod", fetch, timeout=30) == expected
    resolved = one_node.kubectl(
        "-n", ns, "exec", "client", "--", "nslookup", f"server.{ns}.svc.cluster.local"
    )
    assert cluster_ip in resolved.stdout


def test_pod_reaches_the_api_server_with_its_service_account_token(one_node: RealCluster) -> None:
    ns = one_node.namespace()
    one_node.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: caller, namespace: {ns}}}
spec:
  restartPolicy: Never
  containers:
  - {{name: main, image: {PROBE_IMAGE}, imagePullPolicy: Never, args: [python3, /app/probe.py, api]}}
""")
    pod = one_node.wait_phase(ns, "caller", {"Succeeded", "Failed"})
    assert pod["status"]["phase"] == "Succeeded", one_node.kubectl(
        "-n", ns, "logs", "caller", check=False
    ).stdout
    # Authenticated as the pod's ServiceAccount: /version is allowed, kube-system Secrets are not.
    assert one_node.kubectl("-n", ns, "logs", "caller").stdout.strip() == "version=v1.37.2 forbidden=403"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_exec_and_port_forward(one_node: RealCluster) -> None:
    ns = one_node.namespace()
    one_node.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: {ns}}}
spec:
  containers:
  - name: main
    image: {PROBE_IMAGE}
    imagePullPolicy: Never
    args: [python3, /app/probe.py, serve, "8080"]
    env: [{{name: POD_NAME, value: forwarded}}, {{name: POD_IP, value: "-"}}]
    readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
""")
    one_node.wait_ready(ns, "web")
    assert one_node.kubectl("-n", ns, "exec", "web", "--", "cat", "/proc/1/cmdline").stdout.startswith(
        "python3"
    )
    port = _free_port()
    forward = subprocess.Popen(
        [str(tools.KUBERNETES.path("kubectl")), f"--kubeconfig={one_node.kubeconfig}", "-n", ns,
         "port-forward", "pod/web", f"{port}:8080"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:

        def get() -> str:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
                    conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    # Read to the end (HTTP/1.0 closes): headers and body may come as separate frames
                    # through the port-forward, and one recv() returned only the headers once.
                    chunks = []
                    while chunk := conn.recv(4096):
                        chunks.append(chunk)
                    return b"".join(chunks).decode()
            except OSError:
                return ""

        answer = wait("the port-forwarded pod to answer", get, timeout=30)
        assert answer.startswith("HTTP/1.0 200") and answer.endswith("forwarded -\n")
    finally:
        forward.terminate()
        forward.wait(10)


def test_kubectl_top_pod_answers_from_metrics_server(one_node: RealCluster) -> None:
    def top() -> str:
        out = one_node.kubectl("-n", "kube-system", "top", "pod", "--no-headers", check=False)
        return out.stdout if out.returncode == 0 else ""

    lines = wait("metrics-server to report pod usage", top, timeout=120, every=2.0)
    rows = {line.split()[0].rsplit("-", 2)[0]: line.split() for line in lines.splitlines()}
    assert {"coredns", "metrics-server"} <= set(rows), lines
    assert rows["coredns"][1].endswith("m") and rows["coredns"][2].endswith("Mi")


def test_status_shows_the_real_node(one_node: RealCluster) -> None:
    from localcluster import lifecycle

    report = lifecycle.status(one_node.name)
    assert report["phase"] == "Running" and report["realNodes"] == 1
    (node,) = report["nodes"]
    assert (node["name"], node["type"], node["ready"], node["address"]) == (
        f"{one_node.name}-worker-1",
        "real",
        True,
        "172.30.0.11",
    )
    assert node["runtime"].startswith("containerd v2.4") and node["pods"] >= 2
    parts = {row["name"]: row["running"] for row in report["components"]}
    assert all(parts[f"{one_node.name}-worker-1/{p}"] for p in ("containerd", "kubelet", "kube-proxy"))
