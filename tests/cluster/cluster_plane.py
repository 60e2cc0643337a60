"""A real Kubernetes control plane on loopback for the `cluster` tests.

etcd → kube-apiserver (RBAC, client-certificate auth, generated CA) → CRDs from ../shared/crds →
kube-controller-manager, kube-scheduler and kwok when built. The binaries come from the cache that
`scripts/cluster` fills (`~/.cache/arena-cluster/<versions>/bin`); nothing here runs Go.
Every process is started in its own session and stopped (SIGTERM, then SIGKILL) by `stop()`,
which also removes the work directory. Only processes started here are signalled.
"""
from __future__ import annotations

import base64
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHARED_CRDS = ROOT.parent / "shared" / "crds"

# CRDs installed from shared/crds. mpi-operator's v2beta1 MPIJob has the same name as the training
# operator's v1 one (a cluster holds one of them); KServe is not a job kind.
CRD_DIRS = ("kubeflow.org", "batch.volcano.sh", "scheduling.volcano.sh", "bus.volcano.sh", "kueue.x-k8s.io",
            "workload.codeflare.dev")
CRD_SKIP = ("kubeflow.org_mpijobs.mpi-operator-v2beta1.yaml",)

KWOK_STAGES = tuple(f"kustomize/stage/{f}" for f in (
    "node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml", "pod/fast/pod-delete.yaml"))
LIMITED_NAMESPACE = "team-a"  # where the test user `alice` has a read-only Role
POD_LOG_LINES = ("hello from kwok", "epoch 1 loss=0.5")
KUEUE_FRAMEWORKS = ("kubeflow.org/pytorchjob", "kubeflow.org/tfjob", "workload.codeflare.dev/appwrapper")
REQUIRED = ("etcd", "kube-apiserver", "kubectl")
OPTIONAL = ("kube-controller-manager", "kube-scheduler", "kwok")


def cache_root() -> Path:
    return Path(os.environ.get("ARENA_CLUSTER_CACHE") or Path.home() / ".cache" / "arena-cluster")


def versions_key() -> str:
    """The <versions> directory name, computed as scripts/cluster computes it."""
    parts = []
    for line in (HERE / "versions.txt").read_text().splitlines():
        f = line.split()
        if len(f) >= 4 and not line.startswith("#"):
            parts.append(f[0] + f[3][1:])
    return "-".join(parts)


def bin_dir() -> Path:
    return cache_root() / versions_key() / "bin"


def share_dir() -> Path:
    return cache_root() / versions_key() / "share"


def missing_binaries() -> list[str]:
    b = bin_dir()
    return [n for n in REQUIRED if not os.access(b / n, os.X_OK)]


def free_port(taken: set[int]) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


# ---- PKI (openssl CLI: the venv need not have `cryptography`) ------------------------------

def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)


def make_pki(d: Path, users: dict[str, tuple[str, ...]]) -> None:
    """ca.{crt,key}, apiserver.{crt,key}, sa.{key,pub} and <user>.{crt,key} for each user (CN, O=groups)."""
    d.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=arena-test-ca",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)

    def leaf(name: str, subj: str, ext: str) -> None:
        (d / f"{name}.ext").write_text(ext)
        _openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=d)

    leaf("apiserver", "/CN=kube-apiserver",
         "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
         "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
         "DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n")
    for user, groups in users.items():
        subj = f"/CN={user}" + "".join(f"/O={g}" for g in groups)
        leaf(user, subj, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                         "extendedKeyUsage=clientAuth\n")
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key", cwd=d)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)


def kubeconfig(server: str, pki: Path, user: str, namespace: str | None = None) -> dict:
    b64 = lambda p: base64.b64encode((pki / p).read_bytes()).decode()  # noqa: E731
    ctx: dict = {"cluster": "arena-test", "user": user}
    if namespace:
        ctx["namespace"] = namespace
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": user, "preferences": {},
        "clusters": [{"name": "arena-test", "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(f"{user}.crt"),
                                          "client-key-data": b64(f"{user}.key")}}],
        "contexts": [{"name": user, "context": ctx}],
    }


# ---- processes --------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # runs in the child before exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:  # noqa: BLE001 - best effort: stop() is the real cleanup
        pass


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    restarts: int = 0

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class StartError(RuntimeError):
    pass


@dataclass
class ControlPlane:
    work: Path
    bins: Path
    procs: list[Proc] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    server: str = ""
    admin_kubeconfig: Path | None = None
    started: dict[str, float] = field(default_factory=dict)  # component -> seconds to ready
    cleanup_paths: list[Path] = field(default_factory=list)  # fixed paths an operator insists on
    webhook_configs: list[tuple[str, str]] = field(default_factory=list)  # deleted before the operators stop

    # -- helpers
    def has(self, name: str) -> bool:
        return os.access(self.bins / name, os.X_OK)

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        log = self.work / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.work / "home"),
             "TMPDIR": str(self.work / "tmp" / name), "GOMAXPROCS": os.environ.get("ARENA_CLUSTER_GOMAXPROCS", "2")}
        Path(e["TMPDIR"]).mkdir(parents=True, exist_ok=True)
        Path(e["HOME"]).mkdir(parents=True, exist_ok=True)
        e.update(env or {})
        argv = [str(self.bins / name), *args]
        proc = Proc(name, self._popen(argv, e, log, "wb"), log, argv, e)
        self.procs.append(proc)
        return proc

    @staticmethod
    def _popen(argv: list[str], env: dict[str, str], log: Path, mode: str) -> subprocess.Popen:
        with open(log, mode) as out:
            return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=_child_setup)

    def restart(self, proc: Proc) -> None:
        """What a kubelet does when a Deployment's container exits: start it again (same command, same
        environment; its log goes on in the same file)."""
        proc.restarts += 1
        warnings.warn(f"{proc.name} exited ({proc.popen.returncode}) and was started again:\n{proc.tail(15)}",
                      stacklevel=2)
        with open(proc.log, "ab") as out:
            out.write(f"--- exited ({proc.popen.returncode}); restart {proc.restarts}\n".encode())
        proc.popen = self._popen(proc.argv, proc.env, proc.log, "ab")

    def wait(self, proc: Proc, ready, timeout: float, what: str, restarts: int = 0) -> None:
        """Poll `ready` until it holds; an operator (`restarts` > 0) that exits first is started again, as its
        Deployment's kubelet would, at most `restarts` times."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        last: object = None
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                if proc.restarts >= restarts:
                    raise StartError(f"{proc.name} exited ({proc.popen.returncode}) before {what}:\n{proc.tail()}")
                self.restart(proc)
            try:
                if ready():
                    self.started[proc.name] = round(time.monotonic() - t0, 2)
                    return
            except Exception as exc:  # noqa: BLE001 - keep polling; report the last error on timeout
                last = exc
            time.sleep(0.1)
        raise StartError(f"{proc.name}: no {what} after {timeout:.0f}s (last: {last!r}):\n{proc.tail()}")

    def https_get(self, url: str, user: str | None = "admin", verify: bool = True) -> tuple[int, bytes]:
        pki = self.work / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt")) if verify else ssl._create_unverified_context()
        if user:
            ctx.load_cert_chain(str(pki / f"{user}.crt"), str(pki / f"{user}.key"))
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=5) as r:  # noqa: S310 - loopback only
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def kubectl(self, *args: str, user: str = "admin", check: bool = True, timeout: float = 120,
                input: str | None = None) -> subprocess.CompletedProcess:
        kc = self.work / f"{user}.kubeconfig"
        p = subprocess.run([str(self.bins / "kubectl"), "--kubeconfig", str(kc), *args], capture_output=True,
                           text=True, timeout=timeout, input=input,
                           env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.work / "home")})
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def write_kubeconfig(self, user: str, namespace: str | None = None) -> Path:
        path = self.work / f"{user}.kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig(self.server, self.work / "pki", user, namespace)))
        path.chmod(0o600)
        return path

    # -- components
    def start_etcd(self) -> None:
        client, peer = free_port(self.ports), free_port(self.ports)
        self.etcd_url = f"http://127.0.0.1:{client}"
        p = self.spawn("etcd", "--name=default", f"--data-dir={self.work / 'etcd'}", "--unsafe-no-fsync=true",
                       "--max-request-bytes=10485760", "--log-level=warn", "--quota-backend-bytes=2147483648",
                       f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
                       f"--listen-peer-urls=http://127.0.0.1:{peer}",
                       f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                       f"--initial-cluster=default=http://127.0.0.1:{peer}",
                       "--listen-metrics-urls=", "--auto-compaction-retention=0")

        def ready() -> bool:
            with urllib.request.urlopen(self.etcd_url + "/health", timeout=2) as r:  # noqa: S310
                return json.loads(r.read()).get("health") == "true"
        self.wait(p, ready, 30, "/health")

    def start_apiserver(self) -> None:
        pki = self.work / "pki"
        port = free_port(self.ports)
        self.server = f"https://127.0.0.1:{port}"
        p = self.spawn(
            "kube-apiserver", f"--etcd-servers={self.etcd_url}", "--bind-address=127.0.0.1", f"--secure-port={port}",
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none", f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=Node,RBAC", "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount", "--profiling=false", "--v=0")
        self.admin_kubeconfig = self.write_kubeconfig("admin")

        def ready() -> bool:
            code, _ = self.https_get(self.server + "/readyz")
            if code != 200:
                return False
            code, _ = self.https_get(self.server + "/api/v1/namespaces/default")
            return code == 200
        self.wait(p, ready, 120, "/readyz and namespace default")

    def install_crds(self) -> None:
        files = [f for d in CRD_DIRS for f in sorted((SHARED_CRDS / d).glob("*.yaml")) if f.name not in CRD_SKIP]
        t0 = time.monotonic()
        args: list[str] = []
        for f in files:
            args += ["-f", str(f)]
        # server-side apply: client-side apply's last-applied annotation cannot hold 600 KB CRDs
        self.kubectl("apply", "--server-side", "--field-manager=arena-tests", *args, timeout=300)
        self.crd_names = [yaml.safe_load(f.read_text())["metadata"]["name"] for f in files]
        # (`kubectl wait --all` fails on a CRD whose status has no conditions yet: poll instead)
        deadline = time.monotonic() + 180
        while True:
            items = json.loads(self.kubectl("get", "crd", "-o", "json").stdout)["items"]
            established = {c["metadata"]["name"] for c in items
                           if any(x.get("type") == "Established" and x.get("status") == "True"
                                  for x in (c.get("status") or {}).get("conditions") or [])}
            waiting = sorted(set(self.crd_names) - established)
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise StartError(f"CRDs not Established after 180s: {', '.join(waiting)}")
            time.sleep(0.3)
        self.started["crds"] = round(time.monotonic() - t0, 2)

    def start_controller_manager(self) -> None:
        pki = self.work / "pki"
        kc = str(self.admin_kubeconfig)
        port = free_port(self.ports)
        p = self.spawn(
            "kube-controller-manager", f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--secure-port={port}", "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            "--controllers=*", f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}", "--service-cluster-ip-range=10.96.0.0/16",
            "--use-service-account-credentials=false", "--concurrent-gc-syncs=5")
        self.wait(p, lambda: self.https_get(f"https://127.0.0.1:{port}/healthz", user=None, verify=False)[0] == 200,
                  90, "/healthz")

    def start_scheduler(self) -> None:
        kc = str(self.admin_kubeconfig)
        port = free_port(self.ports)
        p = self.spawn("kube-scheduler", f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                       f"--authorization-kubeconfig={kc}", "--leader-elect=false", "--bind-address=127.0.0.1",
                       f"--secure-port={port}")
        self.wait(p, lambda: self.https_get(f"https://127.0.0.1:{port}/healthz", user=None, verify=False)[0] == 200,
                  90, "/healthz")

    def start_kwok(self, nodes: int = 2, gpus: int = 8) -> None:
        # upstream's node and pod Stages (copied from the kwok module by scripts/cluster) + ours
        upstream = [share_dir() / "kwok" / f for f in KWOK_STAGES]
        stages = self.work / "kwok.yaml"
        # every container's log (`kubectl logs`, `arena logs`): this file, in the CRI log format
        self.pod_log = self.work / "pod.log"
        self.pod_log.write_text("".join(f"2026-01-01T00:00:0{i}.000000000Z stdout F {line}\n"
                                        for i, line in enumerate(POD_LOG_LINES)))
        logs = yaml.safe_dump({"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs",
                               "metadata": {"name": "arena-tests"},
                               "spec": {"selector": {}, "logs": [{"logsFile": str(self.pod_log)}]}})
        stages.write_text("\n---\n".join([*(f.read_text() for f in [*upstream, HERE / "kwok-stages.yaml"]), logs]))
        port = free_port(self.ports)
        p = self.spawn("kwok", f"--kubeconfig={self.admin_kubeconfig}", f"--config={stages}",
                       "--manage-all-nodes=true", "--node-name=localhost", "--node-ip=127.0.0.1",
                       f"--node-port={port}", f"--server-address=127.0.0.1:{port}",
                       "--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16")
        docs = []
        for i in range(nodes):
            name = f"kwok-gpu-{i}"
            docs.append({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "type": "kwok",
                                                      "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
                             "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
                "spec": {"providerID": f"kwok://{name}"},
                "status": {"capacity": {"cpu": "32", "memory": "256Gi", "pods": "110", "nvidia.com/gpu": str(gpus)},
                           "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110",
                                           "nvidia.com/gpu": str(gpus)}}})
        self.kubectl("create", "-f", "-", input=yaml.safe_dump_all(docs))
        self.node_names = [d["metadata"]["name"] for d in docs]

        def ready() -> bool:
            out = json.loads(self.kubectl("get", "nodes", "-o", "json").stdout)["items"]
            ok = 0
            for n in out:
                conds = {c["type"]: c["status"] for c in n.get("status", {}).get("conditions", [])}
                taints = [t["key"] for t in n.get("spec", {}).get("taints", []) or []]
                if conds.get("Ready") == "True" and "node.kubernetes.io/not-ready" not in taints:
                    ok += 1
            return ok == nodes
        self.wait(p, ready, 90, "Ready nodes")

    # -- operators (out of cluster, admin kubeconfig; each with a stand-in Deployment for `arena check`)
    def stand_in_deployment(self, namespace: str, name: str, image: str) -> None:
        """A Deployment named as upstream's, whose pod kwok runs: `arena check` looks for it, while the
        operator itself runs here as a process."""
        dep = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                                     "spec": {"containers": [{"name": name, "image": image}]}}}}
        self.kubectl("apply", "--server-side", "--field-manager=arena-tests", "-f", "-", input=json.dumps(dep))

    def mount_secret(self, namespace: str, name: str, *targets: Path) -> bool:
        """What a kubelet does for a Secret volume: its keys as files in each of `targets`, in that order, from
        one read of the Secret (False: no data yet). Like the kubelet's atomic writer, a new version lands whole:
        the files are links through `..data`, which is swapped in one rename, so a reader never pairs one
        version's tls.crt with another's tls.key (an operator's webhook server that did exits at start)."""
        p = self.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=False)
        data = json.loads(p.stdout).get("data") if p.returncode == 0 else None
        if not data:
            return False
        files = {key: base64.b64decode(value) for key, value in data.items()}
        for target in targets:
            target.mkdir(parents=True, exist_ok=True)
            current = target / "..data"
            if current.is_dir() and all((current / k).is_file() and (current / k).read_bytes() == v
                                        for k, v in files.items()):
                continue
            version = Path(tempfile.mkdtemp(prefix="..version_", dir=target))
            for key, content in files.items():
                (version / key).write_bytes(content)
                (version / key).chmod(0o600)
            old = current.resolve() if current.is_symlink() else None
            link = target / "..data_tmp"
            link.unlink(missing_ok=True)
            link.symlink_to(version.name)
            link.replace(current)
            for key in files:
                path = target / key
                if not path.is_symlink():
                    path.unlink(missing_ok=True)
                    path.symlink_to(f"..data/{key}")
            if old is not None:  # a fresh folder each time: the old one is never the new one
                shutil.rmtree(old, ignore_errors=True)
        return True

    def start_training_operator(self) -> None:
        """kubeflow/training-operator v1 with its validating webhook, routed to loopback through an
        ExternalName Service (the apiserver dials localhost:<port> with SNI training-operator.kubeflow.svc,
        which is what the operator's cert rotator signs). Its cert dir is hard-coded upstream to
        /tmp/k8s-webhook-server/serving-certs: removed at stop() when it was not there before."""
        ns, webhook_port, health = "kubeflow", free_port(self.ports), free_port(self.ports)
        cert_dir = Path("/tmp/k8s-webhook-server")
        if not cert_dir.exists():
            self.cleanup_paths.append(cert_dir)
        self.kubectl("create", "namespace", ns)
        self.kubectl("create", "secret", "generic", "training-operator-webhook-cert", "-n", ns)
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "training-operator", "namespace": ns},
               "spec": {"type": "ExternalName", "externalName": "localhost"}}
        schemes = ("pytorchjob", "tfjob", "mpijob")  # the kinds Arena submits
        kinds = [k for k in ("jaxjob", "paddlejob", "pytorchjob", "tfjob", "xgboostjob") if k in schemes]  # (upstream has no MPIJob webhook)
        hooks = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                 "metadata": {"name": "validator.training-operator.kubeflow.org"},
                 "webhooks": [{"name": f"validator.{k}.training-operator.kubeflow.org", "admissionReviewVersions": ["v1"],
                               "clientConfig": {"service": {"name": "training-operator", "namespace": ns,
                                                            "path": f"/validate-kubeflow-org-v1-{k}",
                                                            "port": webhook_port}},
                               "failurePolicy": "Fail", "sideEffects": "None",
                               "rules": [{"apiGroups": ["kubeflow.org"], "apiVersions": ["v1"],
                                          "operations": ["CREATE", "UPDATE"], "resources": [f"{k}s"]}]}
                              for k in kinds]}
        self.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [svc, hooks]}))
        self.webhook_configs.append(("validatingwebhookconfiguration", "validator.training-operator.kubeflow.org"))
        p = self.spawn("training-operator", "--metrics-bind-address=0", f"--health-probe-bind-address=127.0.0.1:{health}",
                       f"--webhook-server-port={webhook_port}", "--leader-elect=false",
                       *(f"--enable-scheme={k}" for k in schemes),
                       env={"KUBECONFIG": str(self.admin_kubeconfig), "MY_POD_NAMESPACE": ns})

        def ready() -> bool:
            # The rotator writes the Secret, then waits for a kubelet to mount it into its cert dir: do that.
            # The rotator checks /tmp/…, the webhook server reads $TMPDIR/…: both get the same files, $TMPDIR's
            # first, since the server starts (and reads them) the moment the rotator sees its own.
            self.mount_secret(ns, "training-operator-webhook-cert",
                              self.work / "tmp" / "training-operator" / "k8s-webhook-server" / "serving-certs",
                              cert_dir / "serving-certs")
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as r:  # noqa: S310
                if r.status != 200:
                    return False
            # through the webhook: a server-side dry-run of a PyTorchJob is admitted
            job = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "probe", "namespace": ns},
                   "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": {
                       "containers": [{"name": "pytorch", "image": "x"}]}}}}}}
            return self.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(job),
                                check=False).returncode == 0
        self.wait(p, ready, 120, "/readyz and an admitted dry-run PyTorchJob", restarts=2)
        self.stand_in_deployment(ns, "training-operator", "ghcr.io/kubeflow/training-v1/training-operator:v1-93c5489")

    def start_kueue(self, frameworks: tuple[str, ...] = KUEUE_FRAMEWORKS) -> None:
        """Kueue with its internal cert management: CRDs from its module (all of them, with the conversion
        stanza its rotator injects a CA into), webhooks routed to loopback like the training operator's
        (only Kueue's own and those of `frameworks`), its Secret copied into its cert dir."""
        ns, webhook_port, health = "kueue-system", free_port(self.ports), free_port(self.ports)
        src = share_dir() / "kueue" / "config" / "components"
        service = {"name": "kueue-webhook-service", "namespace": ns, "port": webhook_port}
        converted = {"localqueues", "clusterqueues", "cohorts", "workloads", "multikueueclusters"}
        crds = []
        for f in sorted((src / "crd" / "bases").glob("*.yaml")):
            crd = yaml.safe_load(f.read_text())
            if crd["spec"]["names"]["plural"] in converted:
                crd["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
                    "clientConfig": {"service": {**service, "path": "/convert"}}, "conversionReviewVersions": ["v1"]}}
            crds.append(crd)
        self.kubectl("create", "namespace", ns)
        self.kubectl("create", "secret", "generic", "kueue-webhook-server-cert", "-n", ns)
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kueue-webhook-service", "namespace": ns},
               "spec": {"type": "ExternalName", "externalName": "localhost"}}
        resources = {"pytorchjobs": "kubeflow.org/pytorchjob", "tfjobs": "kubeflow.org/tfjob",
                     "appwrappers": "workload.codeflare.dev/appwrapper", "mpijobs": "kubeflow.org/mpijob",
                     "jobs": "batch/job"}
        skip_ns = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                         "values": ["kube-system", ns]}]}
        hooks = []
        for doc in yaml.safe_load_all((src / "webhook" / "manifests.yaml").read_text()):
            kept = []
            for w in doc["webhooks"]:
                groups = {g for r in w["rules"] for g in r["apiGroups"]}
                res = {x for r in w["rules"] for x in r["resources"]}
                if groups != {"kueue.x-k8s.io"} and not all(resources.get(x) in frameworks for x in res):
                    continue
                w["clientConfig"]["service"] = {**service, "path": w["clientConfig"]["service"]["path"]}
                if groups != {"kueue.x-k8s.io"}:
                    w["namespaceSelector"] = skip_ns
                kept.append(w)
            kind = "mutating" if doc["kind"].startswith("Mutating") else "validating"
            doc["metadata"] = {"name": f"kueue-{kind}-webhook-configuration"}
            doc["webhooks"] = kept
            hooks.append(doc)
            self.webhook_configs.append((doc["kind"].lower(), doc["metadata"]["name"]))
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=arena-tests", "-f", "-",
                     input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [*crds, svc, *hooks]}), timeout=300)
        cert_dir = self.work / "kueue-certs"
        conf = self.work / "kueue.yaml"
        conf.write_text(yaml.safe_dump({
            "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration", "namespace": ns,
            "health": {"healthProbeBindAddress": f"127.0.0.1:{health}"}, "metrics": {"bindAddress": "0"},
            "webhook": {"port": webhook_port, "certDir": str(cert_dir)}, "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": True}, "integrations": {"frameworks": list(frameworks)}}))
        p = self.spawn("kueue", f"--config={conf}", "--feature-gates=VisibilityOnDemand=false",
                       env={"KUBECONFIG": str(self.admin_kubeconfig)})

        def ready() -> bool:
            self.mount_secret(ns, "kueue-webhook-server-cert", cert_dir)
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as r:  # noqa: S310
                if r.status != 200:
                    return False
            lq = {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
                  "metadata": {"name": "probe", "namespace": "default"}, "spec": {"clusterQueue": "probe"}}
            return self.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(lq),
                                check=False).returncode == 0
        self.wait(p, ready, 180, "/readyz and an admitted dry-run LocalQueue", restarts=2)
        self.stand_in_deployment(ns, "kueue-controller-manager", "registry.k8s.io/kueue/kueue:v0.19.2")

    def start_appwrapper(self) -> None:
        """The AppWrapper controller (project-codeflare/appwrapper), webhooks off, configured by the
        ConfigMap it reads at start (`--config`, namespace from $NAMESPACE)."""
        ns, health = "appwrapper-system", free_port(self.ports)
        self.kubectl("create", "namespace", ns)
        conf = {"controllerManager": {"health": {"bindAddress": f"127.0.0.1:{health}"},
                                      "metrics": {"bindAddress": "0"}, "leaderElection": False},
                "webhooksEnabled": False}
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "appwrapper-operator-config", "namespace": ns},
              "data": {"config.yaml": yaml.safe_dump(conf)}}
        self.kubectl("create", "-f", "-", input=json.dumps(cm))
        # Even with webhooks off its manager starts a webhook server (port 9443, hard-coded) that
        # reads $TMPDIR/k8s-webhook-server/serving-certs: give it the API server's loopback cert.
        certs = self.work / "tmp" / "appwrapper" / "k8s-webhook-server" / "serving-certs"
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.work / "pki" / "apiserver.crt", certs / "tls.crt")
        shutil.copy(self.work / "pki" / "apiserver.key", certs / "tls.key")
        p = self.spawn("appwrapper", "--config=appwrapper-operator-config",
                       env={"KUBECONFIG": str(self.admin_kubeconfig), "NAMESPACE": ns})

        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as r:  # noqa: S310
                return r.status == 200
        self.wait(p, ready, 120, "/readyz", restarts=2)
        self.stand_in_deployment(ns, "appwrapper-controller-manager", "quay.io/ibm/appwrapper:v1.2.1")

    def wait_established(self, names: list[str], timeout: float = 120) -> None:
        """Poll until every named CRD is Established (`kubectl wait` fails on a CRD with no conditions yet)."""
        deadline = time.monotonic() + timeout
        while True:
            got = json.loads(self.kubectl("get", "crd", *names, "-o", "json", check=False).stdout or '{"items": []}')
            ok = {c["metadata"]["name"] for c in got.get("items", [got] if "metadata" in got else [])
                  if any(x.get("type") == "Established" and x.get("status") == "True"
                         for x in (c.get("status") or {}).get("conditions") or [])}
            if ok >= set(names):
                return
            if time.monotonic() > deadline:
                raise StartError(f"CRDs not Established after {timeout:.0f}s: {', '.join(sorted(set(names) - ok))}")
            time.sleep(0.3)

    def start_volcano(self) -> None:
        """Volcano v1.14.1's scheduler and controller manager (no webhook manager: the job controller
        copes with what `jobs/mutate` would default, and arena sets queue, schedulerName and
        minAvailable itself). Its own CRDs replace shared/'s v1.15.1 ones (the Job CRD differs:
        v1.15 adds pod-template fields of newer Kubernetes; PodGroup, Queue and Command are equal)
        and add those its informers wait for (HyperNode, NUMATopology, ...)."""
        src = share_dir() / "vc"
        files = sorted((src / "config" / "crd" / "volcano" / "bases").glob("*.yaml"))
        crds = [yaml.safe_load(f.read_text()) for f in files]
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=arena-tests", "-f", "-",
                     input=json.dumps({"apiVersion": "v1", "kind": "List", "items": crds}), timeout=300)
        self.wait_established([c["metadata"]["name"] for c in crds])
        self.kubectl("create", "namespace", "volcano-system")
        conf = self.work / "volcano-scheduler.conf"
        shutil.copy(src / "installer" / "helm" / "chart" / "volcano" / "config" / "volcano-scheduler.conf", conf)
        kc = str(self.admin_kubeconfig)
        common = (f"--kubeconfig={kc}", "--leader-elect=false", "--kube-api-qps=200", "--kube-api-burst=400")
        sched = self.spawn("vc-scheduler", *common, f"--scheduler-conf={conf}", "--schedule-period=200ms",
                           f"--listen-address=127.0.0.1:{free_port(self.ports)}",
                           f"--healthz-address=127.0.0.1:{free_port(self.ports)}",
                           f"--cache-dump-dir={self.work / 'tmp'}")
        ctrl = self.spawn("vc-controller-manager", *common,
                          "--controllers=job-controller,pg-controller,queue-controller,gc-controller",
                          f"--listen-address=127.0.0.1:{free_port(self.ports)}",
                          f"--healthz-address=127.0.0.1:{free_port(self.ports)}")

        def queue_open() -> bool:  # the scheduler creates `default`, the queue controller opens it
            q = self.kubectl("get", "queues.scheduling.volcano.sh", "default", "-o", "json", check=False)
            return q.returncode == 0 and (json.loads(q.stdout).get("status") or {}).get("state") == "Open"
        self.wait(sched, queue_open, 120, "queue `default` Open")
        self.wait(ctrl, lambda: ctrl.popen.poll() is None, 5, "running")
        self.stand_in_deployment("volcano-system", "volcano-scheduler", "volcanosh/vc-scheduler:v1.14.1")
        self.stand_in_deployment("volcano-system", "volcano-controllers", "volcanosh/vc-controller-manager:v1.14.1")

    def start_mpi_operator(self) -> None:
        """kubeflow/mpi-operator v0.8.2 (MPIJob v2beta1). Its CRD has the name of the Training Operator's
        v1 MPIJob (a cluster serves one of them), so this swaps the CRD: from here on the session's
        MPIJobs are v2beta1. Leader election is always on (a Lease in `mpi-operator`); its health
        server is hard-wired to :8080."""
        v1 = "mpijobs.kubeflow.org"
        self.kubectl("delete", "crd", v1, "--ignore-not-found", "--wait=true", timeout=120)
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=arena-tests",
                     "-f", str(SHARED_CRDS / "kubeflow.org" / CRD_SKIP[0]), timeout=120)
        self.wait_established([v1])
        for ns in ("mpi-operator", "kubeflow"):
            self.kubectl("create", "namespace", ns, check=False)
        p = self.spawn("mpi-operator", f"--kubeConfig={self.admin_kubeconfig}", "--monitoring-port=0",
                       "--lock-namespace=mpi-operator", "--kube-api-qps=50", "--kube-api-burst=100",
                       env={"KUBEFLOW_NAMESPACE": ""})

        def leader() -> bool:
            lease = self.kubectl("get", "lease", "-n", "mpi-operator", "-o", "json", check=False)
            return lease.returncode == 0 and any(
                (i.get("spec") or {}).get("holderIdentity") for i in json.loads(lease.stdout)["items"])
        self.wait(p, leader, 120, "the leader Lease in namespace mpi-operator", restarts=2)
        self.stand_in_deployment("mpi-operator", "mpi-operator", "mpioperator/mpi-operator:0.8.2")

    # -- whole plane
    def start(self, users: dict[str, tuple[str, ...]]) -> None:
        make_pki(self.work / "pki", users)
        self.start_etcd()
        self.start_apiserver()
        for user in users:
            if user != "admin":
                self.write_kubeconfig(user)
        self.install_crds()
        if self.has("kube-controller-manager"):
            self.start_controller_manager()
        if self.has("kube-scheduler"):
            self.start_scheduler()
        if self.has("kwok") and all((share_dir() / "kwok" / f).is_file() for f in KWOK_STAGES) \
                and self.has("kube-controller-manager") and self.has("kube-scheduler"):
            self.start_kwok()

    def running(self, name: str) -> bool:
        return any(p.name == name and p.popen.poll() is None for p in self.procs)

    def stop(self, keep: bool = False) -> None:
        if self.webhook_configs and self.running("kube-apiserver"):
            for kind, name in self.webhook_configs:  # `failurePolicy: Fail` with the operator gone blocks writes
                self.kubectl("delete", kind, name, "--ignore-not-found", check=False, timeout=20)
        for proc in reversed(self.procs):
            p = proc.popen
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait(5)
        self.procs.clear()
        for path in self.cleanup_paths:
            shutil.rmtree(path, ignore_errors=True)
        if not keep:
            shutil.rmtree(self.work, ignore_errors=True)


def new_workdir() -> Path:
    """A fresh directory, on tmpfs when there is one (etcd is faster there)."""
    base = Path("/dev/shm")
    parent = str(base) if base.is_dir() and os.access(base, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="arena-cluster-", dir=parent))
