"""Validation at the daemon's door: what the CLI refuses, the socket refuses too, with the same one-line error;
nothing invalid is stored, and one bad job cannot stop the loop for the others."""
from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.spec import pytorchjob
from arena.spec.job import Resources, Tensorboard

from .raw import error_line, job_count, plan_body, request

ROOT = Path(__file__).resolve().parents[2]

# Values that used to be accepted (then broke the reconcile loop, or queued forever) or raised a traceback.
CLI_BAD = [
    (["--tensorboard", "--tensorboard-ttl", "k=v"], "--tensorboard-ttl"),
    (["--tensorboard", "--tensorboard-ttl", "NaN"], "--tensorboard-ttl"),
    (["--tensorboard", "--tensorboard-ttl", "-1h"], "--tensorboard-ttl"),
    (["--tensorboard", "--tensorboard-ttl", "1e309s"], "--tensorboard-ttl"),
    (["--tensorboard", "--tensorboard-ttl", "inf"], "--tensorboard-ttl"),
    (["--running-timeout", "inf"], "--running-timeout"),
    (["--running-timeout", "1e300"], "--running-timeout"),
    (["--ttl-after-finished", "1e309"], "--ttl-after-finished"),
    (["--cpu", "1e309"], "--cpu"),
    (["--memory", "1e309"], "--memory"),
    (["--cpu", "1e999999999"], "--cpu"),
]


def one_line_error(proc, flag: str) -> str:  # type: ignore[no-untyped-def]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert flag in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("args", "flag"), CLI_BAD)
def test_cli_refuses_values_the_engine_cannot_run(arena, args, flag):
    proc = arena.run("submit", "py", "--name", "bad", *args, "true")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    one_line_error(proc, flag)
    assert arena.store_snapshot() == ([], [])


def test_cli_refuses_a_queue_weight_beyond_int32(arena):
    proc = arena.run("queue", "create", "big", "--weight", "99999999999999999999")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    one_line_error(proc, "--weight")


def _spec_with(**changes: object):  # type: ignore[no-untyped-def]
    spec = pytorchjob.build(name="sock", command="true")
    return msgspec.structs.replace(spec, **changes)


def _task_with(**changes: object):  # type: ignore[no-untyped-def]
    spec = pytorchjob.build(name="sock", command="true")
    return msgspec.structs.replace(spec, tasks=[msgspec.structs.replace(spec.tasks[0], **changes)])


# Specs only a client that skips the CLI can send: each must be refused at the door, naming its field.
SOCKET_BAD = [
    (lambda: _task_with(resources=Resources(cpu="abc")), "cpu"),
    (lambda: _task_with(resources=Resources(memory="1e309")), "memory"),
    (lambda: _task_with(replicas=0), "replicas"),
    (lambda: _task_with(replicas=-3), "replicas"),
    (lambda: _spec_with(tensorboard=Tensorboard(ttl="k=v")), "tensorboard.ttl"),
    (lambda: _spec_with(tensorboard=Tensorboard(ttl="NaN")), "tensorboard.ttl"),
    (lambda: _spec_with(name="../x"), "name"),
    (lambda: _spec_with(name="a/b"), "name"),
    (lambda: _spec_with(namespace="../../etc"), "namespace"),
    (lambda: _spec_with(env={"A": "x\x00y"}), "NUL"),
]


def test_socket_refuses_what_the_cli_refuses_and_stores_nothing(arena):
    arena.run("daemon", "start", check=True)
    sock = arena.home / "arenad.sock"
    for make, field in SOCKET_BAD:
        body = json.dumps(plan_body(make())).encode()
        status, data = request(sock, "POST", "/v1/jobs", body)
        assert status == 400, (field, status, data)
        assert field in error_line(data), (field, data)
    assert job_count(arena.home) == 0
    assert not list((arena.home / "jobs").rglob("*"))
    arena.run("submit", "py", "--name", "after", "true", check=True)  # the daemon still schedules
    assert arena.wait_status("after", "SUCCEEDED", "FAILED")["status"] == "SUCCEEDED"


MALFORMED = [
    b"POST /v1/jobs HTTP/1.1\r\nContent-Length: 1\r\n\r\n{",
    b"POST /v1/jobs HTTP/1.1\r\nContent-Length: 2\r\n\r\n\xff\xfe",
    b"POST /v1/jobs HTTP/1.1\r\nContent-Length: 4\r\n\r\nnull",
    b"POST /v1/jobs HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]",
    b'POST /v1/jobs HTTP/1.1\r\nContent-Length: 10\r\n\r\n{"plan":5}',
    b"POST /v1/prune HTTP/1.1\r\nContent-Length: 13\r\n\r\n{\"since\": 1e999}",
    b"POST /v1/queues HTTP/1.1\r\nContent-Length: 35\r\n\r\n{\"name\": \"q\", \"weight\": 1e30, \"x\":1}",
    b"POST /v1/jobs HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/jobs HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"NONSENSE\r\n\r\n",
    b"GET /v1/jobs?kind=nosuchkind HTTP/1.1\r\n\r\n",
]


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests_get_a_one_line_400(arena, raw):
    arena.run("daemon", "start", check=True)
    from .raw import exchange

    status, data = exchange(arena.home / "arenad.sock", raw)
    assert status == 400, (status, data)
    error_line(data)
    assert job_count(arena.home) == 0


def test_names_in_paths_are_decoded_and_not_found_is_404(arena):
    arena.run("daemon", "start", check=True)
    status, data = request(arena.home / "arenad.sock", "GET", "/v1/jobs/default/a%2Fb")
    assert status == 404 and "a/b" in error_line(data)


def test_a_stored_job_the_daemon_cannot_run_fails_alone(arena):
    """A job an older daemon accepted (cpu "abc") must fail by itself at the next start; before, the loop
    raised on every pass and nothing else was ever scheduled."""
    arena.run("submit", "py", "--name", "bad", "--cpu", "1", "sleep 30", check=True)
    arena.wait_status("bad", "RUNNING")
    arena.run("daemon", "stop", check=True)
    con = sqlite3.connect(arena.home / "arena.db")
    with con:
        for column in ("spec", "plan"):
            con.execute(f"UPDATE jobs SET {column}=replace({column}, '\"cpu\":\"1\"', '\"cpu\":\"abc\"')")
        assert con.execute("SELECT spec FROM jobs").fetchone()[0].count('"abc"') == 1
    con.close()
    arena.run("submit", "py", "--name", "good", "true", check=True)
    assert arena.wait_status("good", "SUCCEEDED", "FAILED", timeout=30)["status"] == "SUCCEEDED"
    bad = arena.wait_status("bad", "FAILED", timeout=30)
    assert "abc" in bad["reason"] or "cpu" in bad["reason"], bad["reason"]
    arena.run("delete", "bad", check=True)


def _fakes():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("reliability_local_fakes", ROOT / "tests" / "local" / "fakes.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_a_job_whose_processing_raises_fails_and_the_loop_goes_on(tmp_path):
    fakes = _fakes()
    engine = fakes.Engine(tmp_path / "home", fakes.Capacity(cpu_milli=16000, memory=64 * 2**30, gpus=(),
                                                             source="declared"))
    try:
        engine.submit(pytorchjob.build(name="bad", command="true"))
        engine.submit(pytorchjob.build(name="good", command="true"))
        bad = engine.core.repo.job_named("default", "bad")
        catalog = engine.core.catalog
        real = catalog.spec

        def spec(uid: str, text: str | None = None):  # type: ignore[no-untyped-def]
            if uid == bad.uid:
                raise RuntimeError("a bug that only this job's state triggers")
            return real(uid, text)

        catalog.spec = spec  # type: ignore[method-assign]
        engine.reconcile()  # must not raise
        assert engine.get("good").status == "RUNNING"
        failed = engine.api.repo.job_named("default", "bad")
        assert failed is not None and failed.finished is not None
        assert "a bug that only this job's state triggers" in failed.reason
        engine.procs.exit("master-0", 0, job="good")
        engine.reconcile()
        assert engine.get("good").status == "SUCCEEDED"
    finally:
        engine.close()


# ---- fuzzing raw bodies --------------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ENDPOINTS = [("POST", "/v1/jobs"), ("POST", "/v1/prune"), ("POST", "/v1/queues"), ("PUT", "/v1/queues/default"),
             ("POST", "/v1/queues/default/close"), ("POST", "/v1/daemon/stop")]


def _leaf_paths(value: object, prefix: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, (*prefix, k))] or [prefix]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, (*prefix, i))] or [prefix]
    return [prefix]


def _replaced(value: object, path: tuple, new: object) -> object:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    where = copy
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = new
    return copy


VALID = plan_body(pytorchjob.build(name="fuzz", command="true", cpu="500m", env=["A=1"], tensorboard=True,
                                   tensorboard_ttl="1h", running_timeout="1h"))
LEAVES = _leaf_paths(VALID)


@st.composite
def bodies(draw) -> tuple[str, str, bytes]:  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["mutated", "json", "bytes"]))
    if kind == "mutated":  # a valid submit with one value replaced: the deepest reach of the door's checks
        path = draw(st.sampled_from(LEAVES))
        body = _replaced(VALID, path[: draw(st.integers(min_value=0, max_value=len(path)))], draw(JSON))
        return "POST", "/v1/jobs", json.dumps(body).encode()
    method, path = draw(st.sampled_from(ENDPOINTS))
    if kind == "json":
        return method, path, json.dumps(draw(JSON)).encode()
    return method, path, draw(st.binary(max_size=64))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(case=bodies())
def test_fuzzed_bodies_get_success_or_a_one_line_400(arena, case):
    method, path, body = case
    sock = arena.home / "arenad.sock"
    if not sock.exists():
        arena.run("daemon", "start", check=True)
    before = job_count(arena.home)
    status, data = request(sock, method, path, body, timeout=10.0)  # a hang fails here
    assert status in (200, 400, 404), (status, data[:300], body[:300])
    if status != 200:
        error_line(data)
        assert job_count(arena.home) == before


def _corpus():  # type: ignore[no-untyped-def]
    from arena.spec import appwrapperjob, mpijob, tfjob, volcanojob

    return [
        pytorchjob.build(name="a", command="python x.py", workers=3, gpus=1, cpu="2", memory="4Gi", env=["A=1"],
                         label=["x=y"], tensorboard=True, tensorboard_ttl="1h", running_timeout="2h",
                         ttl_after_finished="10m", retry=2, data_dir=["/tmp:/data"], selector=["a=b"]),
        tfjob.build(name="t", command="python x.py", workers=2, ps=1, chief=True, evaluator=True, ps_cpu="500m"),
        mpijob.build(name="m", command="mpirun x", workers=2, gpus=1),
        volcanojob.build(name="v", command="echo", min_available=1),
        appwrapperjob.build(name="aw", command="true", success_ttl="1h", ttl_after_finished=2, retry_limit=0),
        appwrapperjob.build(name="awv", command="true", inner_type="volcano"),
    ]


def test_every_spec_the_cli_builds_passes_the_door_unchanged():
    """The door's check is the job file's: a spec built from flags, turned back into its document, is checked
    and rebuilt into exactly itself (so the daemon refuses nothing the CLI accepts)."""
    from arena.spec import jobfile

    for spec in _corpus():
        assert jobfile.to_spec(jobfile.document(spec)) == spec, spec.kind
