"""The daemon's serving room: serving jobs as replica sets of the local engine, their rollouts, their proxy.

State. `$ARENA_HOME/serving/state.json` holds, per serving name, its loopback address and ports, its
traffic weights, and per version the desired spec, the planner's inputs and the current generation. Each
generation runs as one job of the store (`plan.job_spec`: queued, bound and supervised like every job,
restarted with back-off by the reconcile loop), so the store is the truth about processes and this file
the truth about intent. The manager's `tick` (every `TICK` seconds, and at once after a change)
reconciles the two, level-triggered, so a daemon killed at any moment resumes where it was:

- a version whose current generation has no job gets one (a submit that did not finish, a job deleted
  by hand);
- a rollout (`arena serve update`) finishes when the new generation's replicas are all ready: the old
  generation's replicas are drained (no new request; the proxy acknowledges), then stopped;
- a job of a serving kind that no version wants (a delete that did not finish) is stopped and removed;
- `routes.json` is rewritten when what the proxy must know changes, and the proxy is started (or
  started again) while there is something to serve, and stopped when there is nothing.

The proxy (`proxy.py`) is a sidecar process: see its docstring for why.
"""
from __future__ import annotations

import hashlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import msgspec

from arena.engines.local.paths import ReplicaFiles
from arena.engines.local.serving import plan as serving_plan
from arena.engines.local.serving import routes as routes_mod
from arena.engines.local.serving.plan import ServingInputs, ServingPlan, parse_job_name
from arena.engines.local.serving.routes import Backend, Listener, Route, Routes, Status, VersionRoute
from arena.errors import ArenaError, InvalidSpec, JobExists, JobNotFound
from arena.serving import types
from arena.serving.errors import ServingAmbiguous, ServingExists, ServingNotFound
from arena.serving.spec import KServeOptions, Ports, ServingSpec, ServingUpdate, TrafficSplit
from arena.serving.views import Endpoint, ServingInstance, ServingView

if TYPE_CHECKING:
    from arena.engines.local.api import Api
    from arena.engines.local.rows import JobRow, ReplicaRow

TICK = 0.25
DRAIN = 0.5  # seconds a drained replica keeps its requests in flight before it is stopped
ACK_WAIT = 5.0  # seconds to wait for the proxy to apply a change
RESUBMIT = 5.0  # seconds between attempts to start a generation the engine refused
PROXY_RESTART = 1.0


class VersionRecord(msgspec.Struct):
    spec: ServingSpec
    inputs: ServingInputs
    generation: int = 1
    created: float = 0.0
    retires: list[str] = []  # kserve: the older revisions that go once this one is ready


class Service(msgspec.Struct):
    namespace: str
    name: str
    type: str
    address: str
    ports: Ports
    created: float = 0.0
    weights: dict[str, int] = {}  # traffic-split (or kserve canary): version -> weight; {}: by replica
    versions: dict[str, VersionRecord] = {}


class State(msgspec.Struct):
    services: dict[str, Service] = {}
    serial: int = 0


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


class Manager:
    """One per daemon (`for_api`); its lock guards the state, taken before the engine's loop lock."""

    _instances: dict[int, Manager] = {}
    _create = threading.Lock()

    @classmethod
    def for_api(cls, api: Api) -> Manager:
        with cls._create:
            found = cls._instances.get(id(api))
            if found is None or found.api is not api:
                found = cls._instances[id(api)] = Manager(api)
            return found

    def __init__(self, api: Api) -> None:
        self.api = api
        self.dir = api.paths.home / "serving"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "state.json"
        self.routes_path = self.dir / "routes.json"
        self.status_path = self.dir / "status.json"
        self.proxy_path = self.dir / "proxy.json"
        self.mu = threading.RLock()
        self.wake = threading.Event()
        self.state = self._load()
        self.routes: Routes | None = None
        self.status = Status()
        self.draining: dict[str, tuple[int, float]] = {}  # job uid -> (routes serial that drained it, when)
        self.deleting: set[str] = set()
        self.deletes: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self.refused: dict[tuple[str, str], tuple[float, str]] = {}  # (key, version) -> (when, why)
        self.proxy: tuple[int, float] | None = self._adopt_proxy()
        self.proxy_started = 0.0
        self.started = False

    # ---- persistence --------------------------------------------------------------------------
    def _load(self) -> State:
        try:
            return msgspec.json.decode(self.state_path.read_bytes(), type=State)
        except FileNotFoundError:
            return State()
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            bad = self.state_path.with_suffix(f".damaged.{int(time.time())}")
            os.replace(self.state_path, bad)
            print(f"arenad: serving state unreadable ({exc}); kept as {bad}", file=sys.stderr, flush=True)
            return State()

    def _save(self) -> None:
        tmp = self.state_path.with_name(f".state.{os.getpid()}.tmp")
        tmp.write_bytes(msgspec.json.encode(self.state))
        os.replace(tmp, self.state_path)

    # ---- the loop -----------------------------------------------------------------------------
    def start(self, stop: threading.Event) -> None:
        """Run `tick` and the deleter in daemon threads until `stop` is set."""
        if self.started:
            return
        self.started = True

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # keep serving; report
                    import traceback

                    traceback.print_exc()
                    print(f"arenad: serving tick failed: {exc}", file=sys.stderr, flush=True)
                self.wake.wait(TICK)
                self.wake.clear()

        threading.Thread(target=loop, daemon=True, name="serving").start()
        threading.Thread(target=self._deleter, daemon=True, name="serving-deleter").start()

    def _deleter(self) -> None:
        while True:
            namespace, job, uid = self.deletes.get()
            try:
                self.api.delete(namespace, job)
            except JobNotFound:
                pass
            except Exception as exc:
                print(f"arenad: serving: cannot delete {namespace}/{job}: {exc}", file=sys.stderr, flush=True)
            finally:
                with self.mu:
                    self.deleting.discard(uid)
                    self.draining.pop(uid, None)
                self.wake.set()

    def generations(self) -> dict[tuple[str, str, str], dict[int, JobRow]]:
        """Every serving generation's job in the store, by (namespace, name, version) then generation."""
        out: dict[tuple[str, str, str], dict[int, JobRow]] = {}
        for label in types.labels():
            for row, _ in self.api.repo.jobs_listed(None, label):
                parsed = parse_job_name(row.name)
                if parsed is not None:
                    out.setdefault((row.namespace, parsed[0], parsed[1]), {})[parsed[2]] = row
        return out

    def tick(self) -> None:
        with self.mu:
            now = time.time()
            self.status = self._read_status()
            jobs = self.generations()
            wanted: set[str] = set()
            for svc in list(self.state.services.values()):
                for ver in list(svc.versions.values()):
                    gens = jobs.get((svc.namespace, svc.name, ver.spec.version), {})
                    current = gens.get(ver.generation)
                    if current is None and ver.spec.replicas > 0:
                        self._start_generation(svc, ver, now)
                        continue
                    if current is not None:
                        wanted.add(current.uid)
                    ready = current is None or self.ready_count(current) >= ver.spec.replicas
                    for gen, row in gens.items():
                        if gen == ver.generation:
                            continue
                        if gen > ver.generation or ready:
                            self._drain(row)
                        wanted.add(row.uid)
                for ver in list(svc.versions.values()):  # kserve: revisions superseded by a ready newer one
                    if not ver.retires or ver.spec.version not in svc.versions:
                        continue
                    row = jobs.get((svc.namespace, svc.name, ver.spec.version), {}).get(ver.generation)
                    if row is not None and self.ready_count(row) >= ver.spec.replicas:
                        for old in ver.retires:
                            if old in svc.versions:
                                self._retire(svc, svc.versions[old], jobs)
                        ver.retires = []
                        self._save()
            for key_jobs in jobs.values():  # what no version wants: stopped and removed
                for row in key_jobs.values():
                    if row.uid not in wanted and not self._wanted(row):
                        self._drain(row)
            self._publish()
            self._ensure_proxy(now)
            for uid, (serial, since) in list(self.draining.items()):
                if uid in self.deleting:
                    continue
                if self.status.serial >= serial and now - since >= DRAIN:
                    row = self.api.repo.job(uid)
                    if row is None:
                        self.draining.pop(uid, None)
                        continue
                    self.deleting.add(uid)
                    self.deletes.put((row.namespace, row.name, uid))

    def _wanted(self, row: JobRow) -> bool:
        parsed = parse_job_name(row.name)
        if parsed is None:
            return False
        svc = self.state.services.get(_key(row.namespace, parsed[0]))
        ver = svc.versions.get(parsed[1]) if svc else None
        return ver is not None and parsed[2] == ver.generation

    def _drain(self, row: JobRow) -> None:
        if row.uid not in self.draining:
            self.draining[row.uid] = (self.state.serial + 1, time.time())
            self.routes = None  # republish: its replicas leave the balancing at once

    def _retire(self, svc: Service, ver: VersionRecord, jobs: dict[tuple[str, str, str], dict[int, JobRow]]) -> None:
        svc.versions.pop(ver.spec.version, None)
        svc.weights.pop(ver.spec.version, None)
        if len(svc.weights) <= 1:
            svc.weights = {}
        for row in jobs.get((svc.namespace, svc.name, ver.spec.version), {}).values():
            self._drain(row)

    def _start_generation(self, svc: Service, ver: VersionRecord, now: float) -> str:
        """Submit the version's current generation as a job of the store; "" or why the engine refused it."""
        key = (_key(svc.namespace, svc.name), ver.spec.version)
        last = self.refused.get(key)
        if last is not None and now - last[0] < RESUBMIT:
            return last[1]
        from arena.engines.local.api import SubmitRequest

        try:
            p = serving_plan.plan(ver.spec, ver.inputs, ver.generation)
            self.api.submit(SubmitRequest(plan=p.job))
        except JobExists:  # a submit that committed before the daemon stopped
            return ""
        except ArenaError as exc:
            self.refused[key] = (now, str(exc))
            return str(exc)
        self.refused.pop(key, None)
        return ""

    # ---- readiness and routes -----------------------------------------------------------------
    def _read_status(self) -> Status:
        found = routes_mod.read(self.status_path, Status)
        return found if isinstance(found, Status) else Status()

    def ready_count(self, row: JobRow) -> int:
        ready = set(self.status.ready)
        return sum(1 for r in self.api.repo.replicas(row.uid) if r.state == "Running" and f"{row.uid}/{r.key}" in ready)

    def _extra_ports(self, row: JobRow, r: ReplicaRow) -> dict[str, int]:
        beside = ReplicaFiles.of(row.job_dir, r.key).exit  # its folder is known (cached) per replica: no stat
        found = routes_mod.read(beside.with_name(f"{r.key}.serving.json"), dict)
        ports = found.get("ports") if isinstance(found, dict) else None
        return {k: int(v) for k, v in ports.items() if isinstance(v, int)} if isinstance(ports, dict) else {}

    def build_routes(self) -> list[Route]:
        jobs = self.generations()
        out: list[Route] = []
        for svc in self.state.services.values():
            t = types.get(svc.type)
            listeners = []
            if svc.ports.restful:
                listeners.append(Listener(svc.ports.restful, "http", "restful"))
            if svc.ports.grpc:
                listeners.append(Listener(svc.ports.grpc, "tcp", "grpc"))
            versions = []
            for ver in svc.versions.values():
                probe = t.readiness(ver.spec)
                backends = []
                for row in sorted(jobs.get((svc.namespace, svc.name, ver.spec.version), {}).values(),
                                  key=lambda x: x.name):
                    for r in self.api.repo.replicas(row.uid):
                        if r.state != "Running" or not r.port:
                            continue
                        extra = self._extra_ports(row, r) if ver.spec.ports.grpc else {}
                        backends.append(Backend(f"{row.uid}/{r.key}", http=r.port, grpc=extra.get("GRPC_PORT", 0),
                                                draining=row.uid in self.draining))
                weight = svc.weights.get(ver.spec.version, 0) if svc.weights else None
                versions.append(VersionRoute(ver.spec.version, weight, probe.action, probe.path, probe.port, backends))
            out.append(Route(_key(svc.namespace, svc.name), svc.address, listeners, versions))
        return out

    def _publish(self) -> int:
        """Write routes.json when what the proxy must know changed; the serial the proxy must reach."""
        new = self.build_routes()
        if self.routes is None or self.routes.routes != new:
            self.state.serial += 1
            self.routes = Routes(self.state.serial, new)
            routes_mod.write(self.routes_path, self.routes)
            self._save()
        return self.state.serial

    def wait_applied(self, serial: int, timeout: float = ACK_WAIT) -> bool:
        """Block (outside the lock) until the proxy has applied `serial`; False when it did not in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self._read_status()
            if status.serial >= serial or not self._proxy_alive():
                return status.serial >= serial
            time.sleep(0.02)
        return False

    # ---- the proxy ----------------------------------------------------------------------------
    def _adopt_proxy(self) -> tuple[int, float] | None:
        found = routes_mod.read(self.proxy_path, dict)
        if not isinstance(found, dict):
            return None
        pid, ctime = found.get("pid"), found.get("ctime")
        if isinstance(pid, int) and isinstance(ctime, (int, float)) and _alive(pid, float(ctime)):
            return pid, float(ctime)
        return None

    def _proxy_alive(self) -> bool:
        return self.proxy is not None and _alive(*self.proxy)

    def _ensure_proxy(self, now: float) -> None:
        if not self.state.services:
            if self.proxy is not None:
                self.stop_proxy()
            return
        if self._proxy_alive() or now - self.proxy_started < PROXY_RESTART:
            return
        self.proxy_started = now
        log = open(self.dir / "proxy.log", "ab")
        try:
            proc = subprocess.Popen([sys.executable, "-m", "arena.engines.local.serving.proxy", "--dir", str(self.dir)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                    close_fds=True, cwd=str(self.dir))
        finally:
            log.close()
        import psutil

        try:
            ctime = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            ctime = 0.0
        self.proxy = (proc.pid, ctime)
        routes_mod.write(self.proxy_path, _Pid(proc.pid, ctime))

    def stop_proxy(self, wait: float = 5.0) -> None:
        if self.proxy is None:
            return
        pid, ctime = self.proxy
        if _alive(pid, ctime):
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
            deadline = time.monotonic() + wait
            while _alive(pid, ctime) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _alive(pid, ctime):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.proxy = None
        self.proxy_path.unlink(missing_ok=True)
        self.status_path.unlink(missing_ok=True)

    # ---- operations ---------------------------------------------------------------------------
    def submit(self, p: ServingPlan) -> ServingView:
        spec = p.spec
        if serving_plan.plan(spec, p.inputs, p.generation) != p or p.generation != 1:
            raise InvalidSpec("plan", "is not the plan of its spec (is the daemon another version? 'arena daemon "
                                      "stop' and retry)")
        serving_plan.check_local(spec)
        t = types.get(spec.type)
        from arena.engines.local.api import SubmitRequest

        with self.mu:
            key = _key(spec.namespace, spec.name)
            svc = self.state.services.get(key)
            if svc is not None and (svc.type != spec.type or t.versionless or spec.version in svc.versions):
                raise ServingExists(spec.name, spec.namespace)
            if svc is not None and svc.ports != spec.ports:
                raise InvalidSpec(_port_flag(t, svc.ports, spec.ports),
                                  f"serving job {spec.name} listens on {_ports_text(t, svc.ports)} (set by its first "
                                  "version); its versions share one address: give the same ports")
            address = svc.address if svc is not None else self._address(key, spec, t)
            self.api.submit(SubmitRequest(plan=p.job))  # queue, capacity, volumes: the engine's checks
            now = time.time()
            if svc is None:
                svc = self.state.services[key] = Service(spec.namespace, spec.name, spec.type, address, spec.ports,
                                                         created=now)
            svc.versions[spec.version] = VersionRecord(spec, p.inputs, 1, now)
            self._save()
            self._publish()
            self._ensure_proxy(now)
        self.wake.set()
        return self.get(spec.namespace, spec.name, spec.version)

    def _address(self, key: str, spec: ServingSpec, t: types.ServingType) -> str:
        """The name's stable loopback address (as a ClusterIP): derived from the name, unique among names, with
        every endpoint port free on it."""
        used = {s.address for s in self.state.services.values()}
        digest = hashlib.sha256(key.encode()).digest()
        for i in range(0, len(digest) - 3):
            address = f"127.{64 + digest[i] % 64}.{digest[i + 1]}.{1 + digest[i + 2] % 254}"
            if address not in used:
                break
        else:  # pragma: no cover - 29 collisions in a row
            raise ArenaError("no free loopback address for the serving job")
        for endpoint, port in t.endpoints(spec):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((address, port))
                except OSError as exc:
                    flag = _port_flag(t, Ports(), spec.ports, endpoint)
                    raise InvalidSpec(flag, f"port {port} is in use on this machine ({exc.strerror}); choose "
                                            "another") from None
        return address

    def _find(self, namespace: str, name: str, version: str | None, type_: str | None,
              ) -> tuple[Service, list[VersionRecord]]:
        svc = self.state.services.get(_key(namespace, name))
        if svc is None or (type_ and types.get(type_).name != svc.type):
            raise ServingNotFound(name, namespace)
        if types.get(svc.type).versionless:
            return svc, list(svc.versions.values())
        if version:
            ver = svc.versions.get(version)
            if ver is None:
                raise ServingNotFound(name, namespace)
            return svc, [ver]
        return svc, list(svc.versions.values())

    def _one(self, namespace: str, name: str, version: str | None, type_: str | None) -> tuple[Service, VersionRecord]:
        svc, found = self._find(namespace, name, version, type_)
        t = types.get(svc.type)
        if t.versionless:
            return svc, max(found, key=lambda v: v.spec.version)
        if len(found) > 1:
            raise ServingAmbiguous(name, [(t.label, v.spec.version) for v in found])
        return svc, found[0]

    def delete(self, namespace: str, name: str, version: str | None, type_: str | None) -> list[ServingView]:
        with self.mu:
            svc, found = self._find(namespace, name, version, type_)
            t = types.get(svc.type)
            if len(found) > 1 and not t.versionless:
                raise ServingAmbiguous(name, [(t.label, v.spec.version) for v in found])
            views = [self.view(svc, v) for v in found] if not t.versionless else [self.view(svc, None)]
            for v in found:
                svc.versions.pop(v.spec.version, None)
                svc.weights.pop(v.spec.version, None)
            if not any(svc.weights.values()) or len(svc.versions) <= 1:
                svc.weights = {}  # one version left: it takes every request
            if not svc.versions:
                del self.state.services[_key(namespace, name)]
            self._save()
            serial = self._publish()
            left = set(svc.versions) if _key(namespace, name) in self.state.services else set()
            # this version's generations, and any of the name's that no version wants any more (retired
            # revisions, drained generations): all gone when the command returns
            rows = [row for (ns, n, version), gens in self.generations().items() if ns == namespace and n == name
                    and version not in left for row in gens.values()]
            for row in rows:
                self.deleting.add(row.uid)
            last = not self.state.services
        self.wait_applied(serial)  # the proxy closed the name's ports (or no longer routes to these replicas)
        if last:
            with self.mu:
                self.stop_proxy()
        try:
            for row in rows:
                try:
                    self.api.delete(row.namespace, row.name)
                except JobNotFound:
                    pass
        finally:
            with self.mu:
                for row in rows:
                    self.deleting.discard(row.uid)
                    self.draining.pop(row.uid, None)
        self.wake.set()
        return views

    def update(self, upd: ServingUpdate, inputs: ServingInputs | None = None) -> ServingView:
        """A new generation (kserve: a new revision) rolled out over the running one. With `inputs` (the updating
        shell's), its environment and tools replace the job's; the working directory stays the job's."""
        from arena.engines.local.api import SubmitRequest

        with self.mu:
            svc, ver = self._one(upd.namespace, upd.name, upd.version or None, upd.type)
            t = types.get(svc.type)
            spec = t.check(merge(ver.spec, upd, t))
            serving_plan.check_local(spec)
            if inputs is not None:
                ver_inputs = ServingInputs(base_env=dict(inputs.base_env), cwd=ver.inputs.cwd, tools=inputs.tools)
            else:
                ver_inputs = ver.inputs
            now = time.time()
            if t.versionless:  # kserve: a new revision; the canary percent splits latest/previous
                revision = f"{max(int(v) for v in svc.versions) + 1:05d}"
                spec = msgspec.structs.replace(spec, version=revision)
                new = VersionRecord(spec, ver_inputs, 1, now)
                p = serving_plan.plan(spec, new.inputs, 1)
                self.api.submit(SubmitRequest(plan=p.job))
                canary = spec.options_as(KServeOptions).canary_traffic_percent  # type: ignore[attr-defined]
                keep = ver.spec.version if 0 <= canary < 100 else ""
                new.retires = [v for v in svc.versions if v != keep]
                for other in svc.versions.values():
                    other.retires = []
                svc.versions[revision] = new
                svc.weights = {keep: 100 - canary, revision: canary} if keep else {}
            else:
                p = serving_plan.plan(spec, ver_inputs, ver.generation + 1)  # a missing server fails here, now
                self.api.submit(SubmitRequest(plan=p.job))
                ver.spec = spec
                ver.inputs = ver_inputs
                ver.generation += 1
            self._save()
            self._publish()
        self.wake.set()
        return self.get(upd.namespace, upd.name, None if t.versionless else spec.version)

    def traffic(self, split: TrafficSplit) -> list[ServingView]:
        with self.mu:
            svc = self.state.services.get(_key(split.namespace, split.name))
            if svc is None:
                raise ServingNotFound(split.name, split.namespace)
            unknown = [w.version for w in split.weights if w.version not in svc.versions]
            if unknown:
                raise InvalidSpec("--version-weight", f"serving job {split.name} has no version {unknown[0]} "
                                                      f"(versions: {', '.join(svc.versions)})")
            svc.weights = {w.version: w.weight for w in split.weights}
            self._save()
            serial = self._publish()
        self.wait_applied(serial)
        return [self.view(svc, v) for v in svc.versions.values()]

    # ---- views --------------------------------------------------------------------------------
    def list(self, namespace: str | None, type_: str | None) -> list[ServingView]:
        label = types.get(type_).name if type_ else None
        with self.mu:
            out = []
            jobs = self.generations()
            ready = set(self._read_status().ready)
            for svc in self.state.services.values():
                if (namespace is not None and svc.namespace != namespace) or (label and svc.type != label):
                    continue
                if types.get(svc.type).versionless:
                    out.append(self.view(svc, None, jobs, ready))
                else:
                    out += [self.view(svc, v, jobs, ready) for v in svc.versions.values()]
            return out

    def get(self, namespace: str, name: str, version: str | None = None, type_: str | None = None) -> ServingView:
        with self.mu:
            svc, ver = self._one(namespace, name, version, type_)
            return self.view(svc, None if types.get(svc.type).versionless else ver)

    def view(self, svc: Service, ver: VersionRecord | None, jobs: dict[tuple[str, str, str], dict[int, JobRow]]
             | None = None, ready: set[str] | None = None) -> ServingView:
        """One version (or, for kserve, the name with every revision) as upstream's ServingJobInfo. `jobs` and
        `ready` (the store's generations, the proxy's ready replicas) are read once by `list` for every row."""
        from arena.spec.duration import short_human

        t = types.get(svc.type)
        versions = list(svc.versions.values()) if ver is None else [ver]
        latest = max(versions, key=lambda v: v.spec.version)
        now = time.time()
        ready = set(self._read_status().ready) if ready is None else ready
        jobs = self.generations() if jobs is None else jobs
        instances: list[ServingInstance] = []
        desired = available = 0
        gpus = 0.0
        cpus = 0.0
        messages = []
        for v in versions:
            desired += v.spec.replicas
            gens = jobs.get((svc.namespace, svc.name, v.spec.version), {})
            refused = self.refused.get((_key(svc.namespace, svc.name), v.spec.version))
            if refused is not None:
                messages.append(refused[1])
            for gen, row in sorted(gens.items()):
                try:
                    view = self.api.get(row.namespace, row.name, events=False)
                except JobNotFound:  # removed meanwhile
                    continue
                if gen == v.generation and view.reason and view.status in ("QUEUING", "PENDING"):
                    messages.append(view.reason)
                if gen == v.generation and view.status in ("SUCCEEDED", "FAILED"):  # `daemon stop --stop-jobs`
                    messages.append(f"its replicas were stopped ({view.reason or view.phase}); 'arena serve update "
                                    f"{t.name} --name {svc.name}' starts them again")
                reps = {f"{row.name}-{r.key}": r for r in self.api.repo.replicas(row.uid)}
                for inst in view.instances:
                    rep = reps.get(inst.name)
                    key = f"{row.uid}/{rep.key}" if rep else ""
                    is_ready = key in ready and inst.status == "Running"
                    available += 1 if is_ready else 0
                    status = "Terminating" if row.uid in self.draining and inst.status == "Running" else inst.status
                    ports = {"PORT": inst.port} if inst.port else {}
                    if rep is not None and v.spec.ports.grpc:
                        ports.update(self._extra_ports(row, rep))
                    start = inst.startTime or row.created
                    instances.append(ServingInstance(
                        name=f"{svc.name}-{v.spec.version}-{gen}-{inst.index}", status=status,
                        age=short_human(max(now - start, 0)), readyContainers=1 if is_ready else 0, totalContainers=1,
                        restartCount=inst.restarts, nodeIP="127.0.0.1", nodeName="localhost", ip="127.0.0.1",
                        requestGPUs=float(len(inst.gpuIndices) if inst.status == "Running" else 0),
                        creationTimestamp=int(start), version=v.spec.version, gpuIndices=list(inst.gpuIndices),
                        ports=ports, pid=inst.pid, logPath=inst.logPath))
                    gpus += len(inst.gpuIndices) if inst.status == "Running" else 0
            from arena.spec.quantity import cpu_milli

            cpus += v.spec.replicas * -(-cpu_milli(v.spec.resources.cpu) // 1000)
        error = next((e for a, e in self.status.errors.items() if a.startswith(svc.address + ":")), "")
        if error:
            messages.insert(0, f"the proxy cannot listen at {svc.address}: {error}")
        endpoints = [Endpoint(n, p) for n, p in t.endpoints(latest.spec)]
        ip = f"http://{svc.address}:{svc.ports.restful}" if t.versionless else svc.address
        weight = svc.weights.get(latest.spec.version) if (svc.weights and ver is not None) else None
        return ServingView(
            uuid=hashlib.sha1(f"{svc.namespace}/{svc.name}/{latest.spec.version}/{latest.created}".encode()).hexdigest(),
            name=svc.name, namespace=svc.namespace, type=t.alias, version=latest.spec.version,
            age=short_human(max(now - min(v.created for v in versions), 0)), desiredInstances=desired,
            availableInstances=available, endpoints=endpoints, ip=ip, instances=instances, requestCPUs=cpus,
            requestGPUs=gpus, creationTimestamp=int(min(v.created for v in versions)), servingType=t.label,
            weight=weight, modelName=latest.spec.model_name, modelVersion=latest.spec.model_version,
            message="; ".join(dict.fromkeys(messages)),
            traffic=(dict(svc.weights) if svc.weights else {latest.spec.version: 100}) if t.versionless else {})


class _Pid(msgspec.Struct):
    pid: int
    ctime: float


def _alive(pid: int, ctime: float) -> bool:
    import psutil

    try:
        p = psutil.Process(pid)
        return abs(p.create_time() - ctime) < 0.05 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _port_flag(t: types.ServingType, old: Ports, new: Ports, endpoint: str = "") -> str:
    field = {"GRPC": "grpc", "RESTFUL": "restful"}.get(endpoint) or ("restful" if old.restful != new.restful else "grpc")
    dest = next((d for d, f in t.port_flags.items() if f == field), "port")
    return "--" + dest.replace("_", "-")


def _ports_text(t: types.ServingType, ports: Ports) -> str:
    return ",".join(f"{n}:{p}" for n, p in t.endpoints(ServingSpec(type=t.name, name="x", ports=ports)))


def merge(spec: ServingSpec, upd: ServingUpdate, t: types.ServingType) -> ServingSpec:
    """`arena serve update`: the given values over the running spec (env, labels, annotations and selectors
    merged key by key, the new ones winning; tolerations appended unless already there)."""
    from arena.spec.job import Resources

    res = spec.resources
    res = Resources(cpu=upd.cpu or res.cpu, memory=upd.memory or res.memory,
                    gpus=res.gpus if upd.gpus is None else upd.gpus, devices=dict(res.devices))
    options: Any = spec.options if spec.options is not None else t.options_type()
    if upd.options:
        options = msgspec.convert({**msgspec.to_builtins(options), **upd.options}, type(options))
    replicas = spec.replicas if upd.replicas is None else upd.replicas
    if upd.options.get("min_replicas") is not None:
        replicas = t.replica_count(replicas, options) or replicas
    return msgspec.structs.replace(
        spec, image=upd.image or spec.image, replicas=replicas, resources=res,
        env={**spec.env, **upd.env}, command=upd.command or spec.command,
        labels={**spec.labels, **upd.labels}, annotations={**spec.annotations, **upd.annotations},
        node_selector={**spec.node_selector, **upd.node_selector},
        tolerations=spec.tolerations + [x for x in upd.tolerations if x not in spec.tolerations],
        model_name=upd.model_name or spec.model_name, model_path=upd.model_path or spec.model_path, options=options)


def start(api: Api, stop: threading.Event) -> Manager:
    """The daemon's hook: the serving room for this daemon, its loop running."""
    manager = Manager.for_api(api)
    manager.start(stop)
    return manager
