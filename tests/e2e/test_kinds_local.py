"""End to end, per job kind on the local engine: TFJob (parameter servers), MPIJob (real mpirun), Volcano Job
(plugins, dependsOn, lifecycle policies, maxRetry) and AppWrapper (resets, retryLimit, successTTL, inner env).

Jobs are submitted through the SDK (`arena.Client`, in this process) against the fixture's ARENA_HOME, and
read back with the real `arena` command or the SDK.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from arena import Client
from arena.spec import appwrapperjob, mpijob, tfjob, volcanojob

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LIVE = ("Pending", "ContainerCreating", "Running", "Terminating")

needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None
                              or importlib.util.find_spec("sklearn") is None,
                              reason="needs the 'tensorflow' extra and scikit-learn")
needs_mpi = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None
                               or shutil.which("mpirun", path=str(Path(sys.executable).parent)) is None,
                               reason="needs the 'mpi' extra (mpich's mpirun and mpi4py)")


@pytest.fixture
def client(arena, monkeypatch) -> Client:
    """An SDK client on the fixture's home; replicas inherit this process's PATH (the venv first) and cwd."""
    for key in ("ARENA_HOME", "ARENA_LOCAL_CAPACITY", "PATH"):
        monkeypatch.setenv(key, arena.env[key])
    monkeypatch.delenv("ARENA_ENGINE", raising=False)
    monkeypatch.chdir(ROOT)
    return Client(home=arena.home)


def settled(arena, name: str, timeout: float = 30) -> dict:
    """The finished job once every replica has stopped (the engine stops the rest after the deciding exit)."""
    return arena.wait_for(name, lambda j: j["status"] in ("SUCCEEDED", "FAILED")
                          and all(i["status"] not in LIVE for i in j["instances"]), timeout)


def log(client: Client, job: str, instance: str) -> list[str]:
    return list(client.logs(job, instance=instance))


def retries(arena, name: str) -> int:
    """The engine's own counter (Volcano status.retryCount / AppWrapper status.resettingCount)."""
    con = sqlite3.connect(f"file:{arena.home / 'arena.db'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT retries FROM jobs WHERE name=?", (name,)).fetchone()[0]
    finally:
        con.close()


def events(job: dict, reason: str) -> list[dict]:
    return [e for e in job["events"] if e["reason"] == reason]


# ---- TFJob: ParameterServerStrategy ------------------------------------------------------------------------------
@needs_tf
def test_tfjob_parameter_server_digits_chief_decides(arena, client):
    client.submit(tfjob.build(name="psdigits", namespace="default", chief=True, ps=2, workers=2,
                              command="python examples/tensorflow/ps_digits.py --steps 300"))
    view = client.wait("psdigits", timeout=240)
    assert view.status == "SUCCEEDED", view.reason
    job = settled(arena, "psdigits")
    assert job["phase"] == "Succeeded" and job["reason"] == "chief succeeded"
    by_name = {i["name"]: i for i in job["instances"]}
    assert sorted(by_name) == ["psdigits-chief-0", "psdigits-ps-0", "psdigits-ps-1", "psdigits-worker-0",
                               "psdigits-worker-1"]
    assert by_name["psdigits-chief-0"]["exitCode"] == 0
    # ps and workers serve forever: the engine stopped them once the chief succeeded.
    for name, inst in by_name.items():
        if name != "psdigits-chief-0":
            assert inst["exitCode"] == 143, inst  # SIGTERM
            assert not psutil.pid_exists(inst["pid"]) or psutil.Process(inst["pid"]).status() == psutil.STATUS_ZOMBIE
    logs = arena.run("logs", "psdigits", check=True).stdout  # the chief's, by default
    line = next(x for x in logs.splitlines() if "final test accuracy=" in x)
    assert float(line.split("accuracy=")[1].split()[0]) >= 0.85
    assert "ps=2 workers=2" in line
    assert any("serving on 127.0.0.1:" in x for x in log(client, "psdigits", "psdigits-ps-1"))


# ---- MPIJob: mpirun + mpi4py -------------------------------------------------------------------------------------
@needs_mpi
def test_mpijob_mpirun_allreduce(arena, client):
    program = ("from mpi4py import MPI; c = MPI.COMM_WORLD; r = c.Get_rank(); "
               "print(f'rank {r} of {c.Get_size()} allreduce sum={c.allreduce((r + 1) * 10)}', flush=True)")
    cmd = f'echo "hostfile=$HYDRA_HOST_FILE: $(cat "$HYDRA_HOST_FILE")"; mpirun -n 2 python -c "{program}"'
    client.submit(mpijob.build(name="allreduce", namespace="default", workers=2, command=cmd))
    view = client.wait("allreduce", timeout=60)
    assert view.status == "SUCCEEDED", view.reason
    job = settled(arena, "allreduce")
    assert job["reason"] == "launcher succeeded"
    assert [i["name"] for i in job["instances"]] == ["allreduce-launcher-0", "allreduce-worker-0", "allreduce-worker-1"]
    out = arena.run("logs", "allreduce", check=True).stdout.splitlines()  # the launcher's
    assert out[0].endswith("/etc/mpi/hostfile: localhost:2")
    assert sorted(out[1:]) == ["rank 0 of 2 allreduce sum=30", "rank 1 of 2 allreduce sum=30"]


# ---- Volcano Job -------------------------------------------------------------------------------------------------
REPORT = textwrap.dedent("""
    import json, os, pathlib, time
    d = pathlib.Path(os.environ["VC_CONFIG_DIR"])
    print("REPORT " + json.dumps({
        "tf_config": json.loads(os.environ["TF_CONFIG"]),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("VC_", "VK_")) and k != "VC_CONFIG_DIR"},
        "files": {p.name: p.read_text() for p in sorted(d.iterdir())},
    }), flush=True)
    time.sleep(float(os.environ.get("HOLD", "0")))
""")


def test_volcanojob_tf_config_svc_env_host_files_and_depends_on(arena, client, tmp_path):
    script = tmp_path / "report.py"
    script.write_text(REPORT)
    client.submit(volcanojob.build(name="vctf", namespace="default", task=[f"ps:2=HOLD=3 python {script}", "worker:2"],
                                   tf_config="auto", depends_on=["worker:ps"], command=f"python {script}"))
    view = client.wait("vctf", timeout=60)
    assert view.status == "SUCCEEDED", view.reason
    job = arena.job("vctf")
    assert job["phase"] == "Completed"
    insts = {i["name"]: i for i in job["instances"]}
    ep = {t: [f"127.0.0.1:{insts[f'vctf-{t}-{i}']['port']}" for i in range(2)] for t in ("ps", "worker")}
    assert len({*ep["ps"], *ep["worker"]}) == 4 and "127.0.0.1:0" not in ep["ps"] + ep["worker"]
    files = {"ps.host": "\n".join(ep["ps"]), "worker.host": "\n".join(ep["worker"]),
             "VC_PS_HOSTS": ",".join(ep["ps"]), "VC_PS_NUM": "2",
             "VC_WORKER_HOSTS": ",".join(ep["worker"]), "VC_WORKER_NUM": "2"}
    for task in ("ps", "worker"):
        for index in range(2):
            name = f"vctf-{task}-{index}"
            line = next(x for x in log(client, "vctf", name) if x.startswith("REPORT "))
            report = json.loads(line.removeprefix("REPORT "))
            assert report["tf_config"] == {"cluster": ep, "task": {"type": task, "index": index},
                                           "environment": "cloud"}, name
            assert report["env"] == {"VC_TASK_INDEX": str(index), "VK_TASK_INDEX": str(index),
                                     "VC_PS_HOSTS": files["VC_PS_HOSTS"], "VC_PS_NUM": "2",
                                     "VC_WORKER_HOSTS": files["VC_WORKER_HOSTS"], "VC_WORKER_NUM": "2"}, name
            assert report["files"] == files, name
    # dependsOn: the workers were started only once both ps replicas were running.
    ps_running = max(e["ts"] for e in events(job, "Started") if "vctf-ps-" in e["message"])
    for index in range(2):
        worker = insts[f"vctf-worker-{index}"]
        assert worker["startTime"] > ps_running
        assert worker["startTime"] < insts["vctf-ps-0"]["finishTime"]  # ps still running: ready, not done
    scheduled = [e["message"] for e in events(job, "Scheduled") if e["message"].startswith("gang of")]
    assert scheduled == ["gang of 2 replicas bound to localhost"] * 2  # the ps gang, then the workers


def test_volcanojob_task_completed_completes_job_and_kills_the_rest(arena, client):
    client.submit(volcanojob.build(name="vcdone", namespace="default",
                                   task=["master:1=sleep 1; echo master done", "worker:2=echo up; sleep 120"],
                                   policy=["master:TaskCompleted=CompleteJob"]))
    view = client.wait("vcdone", timeout=60)
    assert view.status == "SUCCEEDED", view.reason
    job = settled(arena, "vcdone")
    assert job["phase"] == "Completed"
    assert "TaskCompleted → CompleteJob" in job["reason"]
    insts = {i["name"]: i for i in job["instances"]}
    assert insts["vcdone-master-0"]["status"] == "Completed"
    for w in ("vcdone-worker-0", "vcdone-worker-1"):
        assert insts[w]["exitCode"] == 143  # stopped by SIGTERM, not run to the end of their sleep
    assert [t["phase"] for t in job["transitions"]][-1] == "Completed"


def test_volcanojob_pod_failed_restart_job_counts_max_retry(arena, client):
    client.submit(volcanojob.build(name="vcretry", namespace="default",
                                   task=["ps:1=echo ps up; sleep 120", "worker:1=echo attempt; sleep 0.3; exit 3"],
                                   policy=["PodFailed=RestartJob"], max_retry=3))
    view = client.wait("vcretry", timeout=60)
    assert view.status == "FAILED"
    job = settled(arena, "vcretry")
    assert job["phase"] == "Failed" and "maxRetry (3)" in job["reason"]
    # Volcano: the k-th restart request fails the job iff k >= maxRetry, so maxRetry=3 runs the job 3 times.
    assert len(events(job, "Restarting")) == 2
    assert retries(arena, "vcretry") == 3  # status.retryCount
    assert log(client, "vcretry", "vcretry-worker-0").count("attempt") == 3
    assert log(client, "vcretry", "vcretry-ps-0").count("ps up") == 3  # RestartJob restarts every task
    # Each generation is bound as one gang, after the previous one has stopped.
    gangs = [e for e in events(job, "Scheduled") if e["message"].startswith("gang of")]
    assert [e["message"] for e in gangs] == ["gang of 2 replicas bound to localhost"] * 3
    assert [t["phase"] for t in job["transitions"]] == ["Created", "Inqueue", "Running", "Restarting", "Pending",
                                                        "Running", "Restarting", "Pending", "Running", "Failed"]


# ---- AppWrapper --------------------------------------------------------------------------------------------------
def test_appwrapper_resets_after_pause_until_retry_limit_then_fails(arena, client):
    cmd = 'echo "try RANK=$RANK WORLD_SIZE=$WORLD_SIZE"; sleep 0.5; if [ "$RANK" = 1 ]; then exit 4; fi; sleep 120'
    client.submit(appwrapperjob.build(name="awfail", namespace="default", workers=2, command=cmd, retry_limit=2,
                                      retry_pause_period="1s", failure_grace_period="0s"))
    view = client.wait("awfail", timeout=60)
    assert view.status == "FAILED"
    job = settled(arena, "awfail")
    assert job["phase"] == "Failed" and "retryLimit (2)" in job["reason"]
    assert retries(arena, "awfail") == 2  # status.resettingCount == retryLimit
    resets = events(job, "Resetting")
    assert len(resets) == 2
    starts = [e["ts"] for e in events(job, "Started")]
    assert len(starts) == 6  # three generations of master + worker
    for reset in resets:  # each generation comes back only after the retry pause
        assert min(ts for ts in starts if ts > reset["ts"]) - reset["ts"] >= 0.95
    phases = [t["phase"] for t in job["transitions"]]
    assert phases.count("Resetting") == 2 and phases.count("Resuming") == 2 and phases[-1] == "Failed"
    assert log(client, "awfail", "awfail-worker-0") == ["try RANK=1 WORLD_SIZE=2"] * 3
    assert log(client, "awfail", "awfail-master-0") == ["try RANK=0 WORLD_SIZE=2"] * 3


def test_appwrapper_pytorch_inner_recovers_after_one_reset(arena, client, tmp_path):
    marker = tmp_path / "failed-once"
    cmd = (f'echo "M=$MASTER_ADDR:$MASTER_PORT R=$RANK W=$WORLD_SIZE"; '
           f'if [ "$RANK" = 1 ] && [ ! -e {marker} ]; then touch {marker}; exit 5; fi; sleep 0.5')
    client.submit(appwrapperjob.build(name="awok", namespace="default", workers=2, command=cmd, retry_limit=3,
                                      retry_pause_period="1s", failure_grace_period="0s"))
    view = client.wait("awok", timeout=60)
    assert view.status == "SUCCEEDED", view.reason
    job = settled(arena, "awok")
    assert retries(arena, "awok") == 1 and len(events(job, "Resetting")) == 1
    master = next(i for i in job["instances"] if i["task"] == "master")
    lines = log(client, "awok", "awok-worker-0")
    assert lines == [f"M=127.0.0.1:{master['port']} R=1 W=2"] * 2


def test_appwrapper_volcano_inner_env_and_success_ttl(arena, client):
    cmd = ('echo "M=$MASTER_ADDR:$MASTER_PORT W=$WORLD_SIZE R=$RANK NR=$NODE_RANK NN=$NNODES NP=$NPROC_PER_NODE '
           'L=$LOCAL_WORLD_SIZE P=$PET_NPROC_PER_NODE H=$VC_TRAINER_HOSTS N=$VC_TRAINER_NUM '
           'F=$(cat "$VC_CONFIG_DIR/trainer.host" | tr "\\n" ,)"')
    client.submit(appwrapperjob.build(name="awvc", namespace="default", inner_type="volcano", task_name="trainer",
                                      replicas=3, nproc_per_node="2", command=cmd, success_ttl="3s"))
    view = client.wait("awvc", timeout=60)
    assert view.status == "SUCCEEDED", view.reason
    lines = {i.index: log(client, "awvc", i.name) for i in view.instances}  # before the TTL removes the job
    ports = {i.index: i.port for i in view.instances}
    hosts = ",".join(f"127.0.0.1:{ports[i]}" for i in range(3))
    for index in range(3):
        assert lines[index] == [f"M=127.0.0.1:{ports[0]} W=6 R={index} NR={index} NN=3 NP=2 L=2 P=2 "
                                f"H={hosts} N=3 F={hosts}"]
    # successTTL: the finished AppWrapper is removed once the TTL has passed (and not before: on a fake clock in
    # tests/local/test_lifecycle_effects.py).
    deadline = time.monotonic() + 30
    while arena.run("get", "awvc").returncode == 0:
        assert time.monotonic() < deadline, "the AppWrapper was not removed after its successTTL"
        time.sleep(0.2)
    r = arena.run("get", "awvc")
    assert r.returncode != 0 and "Not found training job awvc" in r.stderr


# ---- plan/apply: real processes get exactly the plan -------------------------------------------------------------
SHELL_OWN = {"PWD", "OLDPWD", "SHLVL", "_"}  # what `sh -c` itself adds to its environment


@pytest.mark.parametrize("build", [
    lambda: volcanojob.build(name="planned", namespace="default", task=["ps:1", "worker:2"], tf_config="auto",
                             command='env -0 > "$ARENA_JOB_DIR/env-$ARENA_REPLICA_NAME"; sleep 60'),
    lambda: mpijob.build(name="planned", namespace="default", workers=2,
                         command='env -0 > "$ARENA_JOB_DIR/env-$ARENA_REPLICA_NAME"; sleep 60'),
], ids=["volcanojob", "mpijob"])
def test_started_processes_get_exactly_the_planned_env_and_files(arena, client, build):
    from arena.engines.local.plan import Bindings

    plan = client.plan(build())
    client.apply(plan)
    job = arena.wait_status("planned", "RUNNING")
    job_dir = Path(job["jobDir"])
    keys = {f"{i['task']}-{i['index']}": i for i in job["instances"]}
    bindings = Bindings.of(job["uuid"], str(job_dir), {k: i["port"] for k, i in keys.items()},
                           {k: i["gpuIndices"] for k, i in keys.items()})
    for planned in (r for r in plan.replicas if "env -0" in r.argv[-1]):  # MPI workers idle: only the launcher
        dump = job_dir / f"env-{planned.name}"
        deadline = time.monotonic() + 30
        while not (dump.exists() and dump.read_bytes().endswith(b"\0")) and time.monotonic() < deadline:
            time.sleep(0.1)
        pairs = (item.split("=", 1) for item in dump.read_text().split("\0") if item)
        env = {k: v for k, v in pairs if k not in SHELL_OWN}
        assert env == bindings.replica(planned).env
    for relative, text in bindings.files(plan.files).items():
        assert (job_dir / relative).read_text() == text
    arena.run("delete", "planned", check=True)
