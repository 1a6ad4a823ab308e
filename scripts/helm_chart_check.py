"""Checks the manifests rendered by scripts/helm-test.sh; prints `helm: N passed, M failed`."""

import sys
from pathlib import Path

import yaml

work = Path(sys.argv[1])
refused_failed = sys.argv[2] != "0"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))


def docs(name):
    return [d for d in yaml.safe_load_all((work / name).read_text()) if d]


def kind(manifests, k):
    found = [d for d in manifests if d["kind"] == k]
    return found[0] if found else None


def container(manifests):
    return kind(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def env(c):
    return {e["name"]: e.get("value") for e in c["env"]}


default = docs("default.yaml")
deploy = kind(default, "Deployment")
pod = deploy["spec"]["template"]["spec"]
c = container(default)
e = env(c)

check("replicas from replicaCount", deploy["spec"]["replicas"] == 2, deploy["spec"]["replicas"])
check("rate share 1/2", e["DEFENDER_BRIDGE_RATE_SHARE"] == "0.500000", e["DEFENDER_BRIDGE_RATE_SHARE"])
four = env(container(docs("four.yaml")))
check("rate share 1/4 with 4 replicas", four["DEFENDER_BRIDGE_RATE_SHARE"] == "0.250000", four)
override = env(container(docs("override.yaml")))
check("rateShare overrides", override["DEFENDER_BRIDGE_RATE_SHARE"] == "0.5", override)

check("liveness on /healthz", c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}, c["livenessProbe"])
check("readiness on /readyz", c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}, c["readinessProbe"])
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
check("grpc and admin ports", ports == {"grpc": 50051, "admin": 9464}, ports)
check("admin listens on the pod address", e["DEFENDER_BRIDGE_ADMIN_LISTEN"] == "0.0.0.0:9464", e)

sc = c["securityContext"]
check("read-only root", sc["readOnlyRootFilesystem"] is True, sc)
check("no privilege escalation", sc["allowPrivilegeEscalation"] is False, sc)
check("drop ALL capabilities", sc["capabilities"]["drop"] == ["ALL"], sc)
psc = pod["securityContext"]
check("non-root pod", psc["runAsNonRoot"] is True and psc["runAsUser"] != 0, psc)
check("seccomp RuntimeDefault", psc["seccompProfile"]["type"] == "RuntimeDefault", psc)
check("no service account token", pod["automountServiceAccountToken"] is False, pod)
check("resources set", "requests" in c["resources"] and "limits" in c["resources"], c["resources"])

mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
volumes = {v["name"]: v for v in pod["volumes"]}
secret_mount = mounts["/etc/defender-bridge/defender"]
secret_volume = volumes[secret_mount["name"]]["secret"]
check("Defender secret mounted as a file", secret_mount["readOnly"] and secret_volume["secretName"] == "defender-app"
      and secret_volume["items"] == [{"key": "client-secret", "path": "client-secret"}], secret_volume)
check("secret file path given", e["DEFENDER_CLIENT_SECRET_FILE"] == "/etc/defender-bridge/defender/client-secret", e)
check("no secret in env", "DEFENDER_CLIENT_SECRET" not in e and all("secretKeyRef" not in str(x) for x in c["env"]), c["env"])
tls_mount = mounts["/etc/defender-bridge/tls"]
check("TLS secret mounted", volumes[tls_mount["name"]]["secret"]["secretName"] == "defender-bridge-tls" and tls_mount["readOnly"], tls_mount)
check("TLS files and client CA", e["DEFENDER_BRIDGE_TLS_CERT"].endswith("tls.crt") and e["DEFENDER_BRIDGE_TLS_KEY"].endswith("tls.key")
      and e["DEFENDER_BRIDGE_TLS_CLIENT_CA"].endswith("ca.crt"), e)
check("callers file mounted", e["DEFENDER_BRIDGE_CALLERS"] == "/etc/defender-bridge/callers/callers.toml"
      and "configMap" in volumes[mounts["/etc/defender-bridge/callers"]["name"]], volumes)
check("writable audit and tmp volumes", "emptyDir" in volumes[mounts["/var/lib/defender-bridge"]["name"]]
      and "emptyDir" in volumes[mounts["/tmp"]["name"]], volumes)
check("service names allowed as Host", "t-defender-bridge.sec.svc" in e["DEFENDER_BRIDGE_ALLOWED_HOSTS"].split(","), e)

service = kind(default, "Service")
check("service ports", sorted(p["name"] for p in service["spec"]["ports"]) == ["admin", "grpc"], service)
pdb = kind(default, "PodDisruptionBudget")
check("PodDisruptionBudget", pdb is not None and pdb["spec"]["minAvailable"] == 1, pdb)
sm = kind(default, "ServiceMonitor")
check("ServiceMonitor scrapes /metrics on admin", sm is not None and sm["spec"]["endpoints"][0]["port"] == "admin", sm)
np = kind(default, "NetworkPolicy")
check("NetworkPolicy limits egress to DNS and HTTPS", np is not None and "Egress" in np["spec"]["policyTypes"]
      and {p["port"] for r in np["spec"]["egress"] for p in r["ports"]} == {53, 443}, np)

mesh = container(docs("mesh.yaml"))
mesh_env = env(mesh)
check("native gRPC probes in mesh mode", mesh["livenessProbe"]["grpc"] == {"port": 50051, "service": ""}
      and mesh["readinessProbe"]["grpc"]["service"] == "defenderbridge.v1.RiskService", mesh)
check("mesh mode is explicit plaintext", mesh_env.get("DEFENDER_BRIDGE_INSECURE_PLAINTEXT") == "true"
      and "DEFENDER_BRIDGE_TLS_CERT" not in mesh_env, mesh_env)
check("refused settings do not render", not refused_failed)

passed = sum(results)
failed = len(results) - passed
print(f"helm: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
