"""Upstream's commands that were missing, on the local engine: attach, whoami, get -g, top node -m,
top job -i/-T, queue --dry-run, and what `--loglevel debug` shows."""
from __future__ import annotations

import getpass
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e


def arena_command() -> list[str]:
    exe = Path(sys.executable).parent / "arena"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "arena"]


def running(arena: Any, name: str, *extra: str, command: str = "sleep 60") -> dict:
    arena.run("submit", "pytorchjob", "--name", name, *extra, command, check=True)
    job = arena.wait_status(name, "RUNNING")
    time.sleep(0.3)
    return job


def test_attach_runs_in_the_replica_environment_and_directory(arena: Any, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    running(arena, "att", "--workers", "2", "--working-dir", str(work), "-e", "GREETING=hi")
    show = "echo $GREETING rank=$RANK world=$WORLD_SIZE master=$MASTER_ADDR:$MASTER_PORT; pwd"
    chief = arena.run("attach", "att", "--", "sh", "-c", show)
    assert chief.returncode == 0, chief.stderr
    first, cwd = chief.stdout.splitlines()
    assert first.startswith("hi rank=0 world=2 master=127.0.0.1:") and first.rsplit(":", 1)[1].isdigit()
    assert Path(cwd) == work
    # the worker, by <task>-<index>, with the global flags after the name; the command's exit code comes back
    worker = arena.run("attach", "att", "-i", "worker-0", "--namespace=default", "--", "sh", "-c",
                       "echo rank=$RANK; exit 3")
    assert (worker.returncode, worker.stdout) == (3, "rank=1\n")
    # no command: a shell, reading this stdin
    shell = subprocess.run([*arena_command(), "attach", "att", "-i", "att-worker-0"], input="echo shell rank $RANK\n",
                           capture_output=True, text=True, env=arena.env, timeout=60)
    assert (shell.returncode, shell.stdout) == (0, "shell rank 1\n")


def test_attach_errors_are_one_line(arena: Any) -> None:
    missing = arena.run("attach", "ghost")
    assert missing.returncode == 1
    assert missing.stderr == ("arena: error: Not found training job ghost in namespace default,please use "
                              "'arena submit' to create it.\n")
    arena.run("submit", "pytorchjob", "--name", "done", "true", check=True)
    arena.wait_status("done", "SUCCEEDED")
    finished = arena.run("attach", "done", "--", "true")
    assert finished.returncode == 1 and "not Running" in finished.stderr
    assert len(finished.stderr.splitlines()) == 1
    running(arena, "one")
    for args, code in ((["-i", "nope"], 2), (["-c", "sidecar"], 1), (["--", "no-such-binary-here"], 2)):
        r = arena.run("attach", "one", *args)
        assert r.returncode == code and len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


def test_whoami_prints_upstreams_fields(arena: Any) -> None:
    r = arena.run("whoami", "--loglevel=info", check=True)
    user = json.loads(r.stdout)
    assert list(user)[:3] == ["Name", "Id", "IsAdminUser"]
    assert user["Name"] == getpass.getuser()
    assert user["Id"] == hashlib.md5(user["Name"].encode()).hexdigest()
    assert user["IsolateUser"] is False


def test_get_and_top_job_show_gpus_per_instance(arena: Any) -> None:
    arena.env["ARENA_LOCAL_CAPACITY"] = "cpu=8,memory=16Gi,nvidia.com/gpu=2"  # declared: no NVML figures
    running(arena, "g", "--gpus", "1", "--workers", "2")
    text = arena.run("get", "g", "-g", check=True).stdout
    assert "GPUs:" in text and "GPU(DutyCycle)" in text and "Allocated/Requested GPUs of Job: 2/2" in text
    assert "N/A" in text
    info = arena.json("get", "g", "-g")
    assert [i["gpuMetrics"] for i in info["instances"]] == [{}, {}]
    per_instance = arena.run("top", "job", "g", "-i", "worker-0", "-T", "pytorch", check=True).stdout
    assert "g-worker-0" in per_instance and "g-master-0" not in per_instance
    assert "Allocated/Requested GPUs of Job: 2/2" in per_instance
    other_type = arena.run("top", "job", "-T", "tfjob", check=True).stdout
    assert "\ng " not in other_type and other_type.startswith("NAME")
    bad = arena.run("top", "job", "g", "-i", "nope")
    assert bad.returncode == 2 and "--instance" in bad.stderr


def test_list_and_get_json_are_upstreams_training_job_info(arena: Any) -> None:
    running(arena, "info", "--workers", "2")
    (listed,) = arena.json("list")
    got = arena.json("get", "info")
    upstream = ["uuid", "name", "namespace", "duration", "status", "trainer", "tensorboard", "chiefName",
                "instances", "priority", "requestGPUs", "allocatedGPUs", "creationTimestamp", "modelName",
                "modelVersion", "modelSource"]
    for doc in (listed, got):
        assert list(doc)[:len(upstream)] == upstream
        assert doc["trainer"] == "pytorchjob" and doc["status"] == "RUNNING"
        assert isinstance(doc["creationTimestamp"], int) and doc["duration"].endswith("s")
    instance = got["instances"][0]
    assert list(instance)[:10] == ["ip", "status", "name", "age", "node", "nodeIP", "chief", "requestGPUs",
                                   "gpuMetrics", "creationTimestamp"]
    as_yaml = yaml.safe_load(arena.run("get", "info", "-o", "yaml", check=True).stdout)
    assert list(as_yaml)[:len(upstream)] == upstream and as_yaml["trainer"] == "pytorchjob"
    table = arena.run("list", check=True).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "TRAINER", "DURATION", "GPU(Requested)", "GPU(Allocated)", "NODE"]
    assert table[1].split()[-1] == "127.0.0.1"
    instances = arena.run("get", "info", check=True).stdout.split("Instances:\n", 1)[1].splitlines()
    assert instances[0].split()[:6] == ["NAME", "STATUS", "AGE", "IS_CHIEF", "GPU(Requested)", "NODE"]


def test_list_prints_from_summaries_and_starts_light(arena: Any) -> None:
    """The table, -o name and -o wide come from the daemon's summaries: the command loads no msgspec, typing or
    threading (a third of its start-up), and says what the full views say."""
    arena.run("submit", "pytorchjob", "--name", "done", "true", check=True)
    arena.wait_status("done", "SUCCEEDED")
    running(arena, "live")
    timed = subprocess.run([sys.executable, "-X", "importtime", "-m", "arena", "list", "-o", "wide"], env=arena.env,
                           capture_output=True, text=True, timeout=60)
    assert timed.returncode == 0, timed.stderr
    loaded = {line.rsplit("|", 1)[-1].strip() for line in timed.stderr.splitlines() if line.startswith("import time:")}
    assert "arena.summary" in loaded and not loaded & {"msgspec", "typing", "threading", "yaml", "arena.views"}
    rows = [line.split() for line in timed.stdout.splitlines()]
    assert rows[0] == ["NAME", "STATUS", "TRAINER", "DURATION", "GPU(Requested)", "GPU(Allocated)", "NODE", "QUEUE",
                       "PRIORITY", "POSITION", "REASON"]
    views = {j["name"]: j for j in arena.json("list")}
    assert [r[0] for r in rows[1:]] == ["live", "done"] == list(views)
    for r in rows[1:]:
        assert r[1:3] == [views[r[0]]["status"], "PYTORCHJOB"] and r[4:7] == ["0", "0", "127.0.0.1"]
    assert arena.run("list", "-o", "name", check=True).stdout == "pytorchjob/live\npytorchjob/done\n"


def test_top_node_gpu_mode(arena: Any) -> None:
    arena.env["ARENA_LOCAL_CAPACITY"] = "cpu=8,memory=16Gi,nvidia.com/gpu=2"
    (node,) = arena.json("top", "node", "-m", "e")
    assert node["mode"] == "exclusive"
    assert arena.json("top", "node", "--gpu-mode=share") == []
    bad = arena.run("top", "node", "-m", "x")
    assert bad.returncode == 2 and "GPU mode" in bad.stderr


def test_queue_dry_run_changes_nothing(arena: Any) -> None:
    planned = yaml.safe_load(arena.run("queue", "create", "team", "--weight", "3", "--capability",
                                       "cpu=4,nvidia.com/gpu=1", "--dry-run", check=True).stdout)
    assert planned == {"kind": "Queue", "name": "team", "state": "Open", "weight": 3,
                       "capability": {"cpu": "4", "nvidia.com/gpu": "1"}, "guarantee": {}, "reclaimable": True}
    assert [q["name"] for q in arena.json("queue", "list")] == ["default"]
    updated = json.loads(arena.run("queue", "update", "default", "--weight", "5", "--dry-run", "-o", "json",
                                   check=True).stdout)
    assert updated["weight"] == 5
    assert arena.json("queue", "get", "default")[0]["weight"] == 1
    bad = arena.run("queue", "create", "team", "--weight", "0", "--dry-run")
    assert bad.returncode == 2 and bad.stderr == "arena: error: --weight: must be 1 or more\n"
    gone = arena.run("queue", "update", "nosuch", "--weight", "2", "--dry-run")
    assert gone.returncode == 2 and "nosuch" in gone.stderr


def test_loglevel_debug_shows_what_arena_does_without_secrets(arena: Any) -> None:
    r = arena.run("submit", "pytorchjob", "--name", "dbg", "-e", "GIT_SYNC_PASSWORD=hunter2",
                  "-e", "API_TOKEN=s3cr3t", "true", "--loglevel=debug", check=True)
    assert "DEBU arena: engine local, namespace default" in r.stderr
    assert "DEBU arena: plan of pytorchjob default/dbg:" in r.stderr
    assert "hunter2" not in r.stderr and "s3cr3t" not in r.stderr and "******" in r.stderr
    assert "pytorchjob/dbg created" in r.stdout and "DEBU" not in r.stdout
    quiet = arena.run("get", "dbg", check=True)
    assert "DEBU" not in quiet.stderr
