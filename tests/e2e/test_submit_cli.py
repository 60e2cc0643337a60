"""`arena submit KIND` and `arena submit [KIND] -f FILE`, checked through `--dry-run` (nothing is run)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

CMD = "python train.py"


def dry(arena: Any, *args: str, fmt: str = "yaml", cwd: Path | None = None) -> dict:
    """Run `arena submit ARGS --dry-run -o FMT` and return the resolved job of the plan it printed."""
    return plan(arena, *args, fmt=fmt, cwd=cwd)["spec"]


def plan(arena: Any, *args: str, fmt: str = "yaml", cwd: Path | None = None) -> dict:
    """Run `arena submit ARGS --dry-run -o FMT` and parse the local plan it printed."""
    r = arena.run("submit", *args, "--dry-run", "-o", fmt, cwd=cwd)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return yaml.safe_load(r.stdout) if fmt == "yaml" else json.loads(r.stdout)


def both(arena: Any, *args: str) -> dict:
    """The YAML and the JSON dry-run print the same job."""
    as_yaml = dry(arena, *args, fmt="yaml")
    assert dry(arena, *args, fmt="json") == as_yaml
    return as_yaml


def tasks(spec: dict) -> dict[str, dict]:
    return {t["name"]: t for t in spec["tasks"]}


def replicas(spec: dict) -> dict[str, int]:
    return {t["name"]: t.get("replicas", 1) for t in spec["tasks"]}


def bad(arena: Any, *args: str) -> str:
    """A bad submit: exit 2, one line on stderr, nothing on stdout; returns that line."""
    r = arena.run("submit", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arena: error:"), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------------------------------------------
# Flags, one kind at a time

def test_pytorchjob_flags(arena):
    spec = both(arena, "pytorchjob", "--name", "pt", "--workers", "3", "--gpus", "1", "--cpu", "2", "--memory", "4Gi",
                "--nproc-per-node", "2", "--master-port", "29500", "--retry", "2", "--clean-task-policy", "All",
                "--running-timeout", "1h", "-e", "A=1", "-l", "team=x", CMD)
    assert spec["kind"] == "pytorchjob" and spec["name"] == "pt" and spec["workers"] == 3
    assert replicas(spec) == {"master": 1, "worker": 2}
    t = tasks(spec)
    assert t["master"]["resources"] == {"cpu": "2", "memory": "4Gi", "gpus": 1} == t["worker"]["resources"]
    assert t["master"]["command"] == CMD and t["master"]["port"] == 29500
    assert t["worker"]["restart_policy"] == "OnFailure"
    assert spec["options"] == {"type": "pytorchjob", "nproc_per_node": "2", "master_port": 29500}
    assert spec["run_policy"] == {"clean_pod_policy": "All", "backoff_limit": 2, "active_deadline_seconds": 3600}
    assert spec["env"] == {"A": "1"} and spec["labels"] == {"team": "x"}


def test_tfjob_flags(arena):
    spec = both(arena, "tf", "--name", "tf1", "--workers", "2", "--ps", "1", "--chief", "--evaluator", "--gpus", "1",
                "--cpu", "1", "--ps-cpu", "500m", "--ps-memory", "1Gi", "--worker-memory", "8Gi", "--ps-image", "ps:1",
                "--image", "tf:2", "--worker-port", "2222", "--success-policy", "AllWorkers", "--ttl-after-finished",
                "10m", CMD)
    assert spec["kind"] == "tfjob" and spec["workers"] == 2
    assert [t["name"] for t in spec["tasks"]] == ["chief", "ps", "worker", "evaluator"]
    assert replicas(spec) == {"chief": 1, "ps": 1, "worker": 2, "evaluator": 1}
    t = tasks(spec)
    assert t["ps"]["resources"] == {"cpu": "500m", "memory": "1Gi"} and t["ps"]["image"] == "ps:1"
    assert t["worker"]["resources"] == {"cpu": "1", "memory": "8Gi", "gpus": 1} and t["worker"]["image"] == "tf:2"
    assert t["chief"]["resources"] == {"cpu": "1", "gpus": 1} and t["worker"]["port"] == 2222
    assert spec["options"] == {"type": "tfjob", "success_policy": "AllWorkers"}
    assert spec["run_policy"] == {"ttl_seconds_after_finished": 600}


def test_tfjob_single_worker_is_standalone(arena):
    spec = both(arena, "tfjob", "--name", "solo", CMD)
    assert replicas(spec) == {"worker": 1} and spec["options"]["standalone"] is True


def test_mpijob_flags(arena):
    spec = both(arena, "mj", "--name", "mp", "--workers", "3", "--gpus", "2", "--memory", "2Gi",
                "--mpi-implementation", "mpich", "--mpi-api-version", "v2beta1", "mpirun -np 6 ./app")
    assert spec["kind"] == "mpijob" and spec["workers"] == 3
    assert replicas(spec) == {"launcher": 1, "worker": 3}
    t = tasks(spec)
    assert t["launcher"]["command"] == "mpirun -np 6 ./app" and not t["worker"].get("command")
    assert t["worker"]["resources"] == {"memory": "2Gi", "gpus": 2}
    assert spec["options"] == {"type": "mpijob", "slots_per_worker": 2, "api_version": "v2beta1",
                               "implementation": "mpich"}
    assert spec["run_policy"] == {"clean_pod_policy": "All"}  # upstream's mpijob default
    spec = dry(arena, "mpi", "--name", "mp", "--workers", "2", "--slots-per-worker", "4", CMD)
    assert spec["options"]["slots_per_worker"] == 4


def test_volcanojob_tasks_policies_plugins(arena):
    spec = both(arena, "vj", "--name", "vc", "--task", "ps:1:1:1Gi=python ps.py", "--task", "worker:3:2::1",
                "--policy", "PodEvicted=RestartJob", "--policy", "worker:TaskCompleted=CompleteJob",
                "--depends-on", "worker:ps", "--min-available", "3", "--max-retry", "5", "--queue", "research",
                "--plugin", "env", "--plugin", "svc:--disable-network-policy", "--tf-config", "auto",
                "--scheduler-name", "volcano", "-e", "K=v", "-a", "note=x", CMD)
    assert spec["kind"] == "volcanojob" and spec["workers"] == 4
    assert replicas(spec) == {"ps": 1, "worker": 3}
    t = tasks(spec)
    assert t["ps"]["command"] == "python ps.py" and t["worker"]["command"] == CMD
    assert t["ps"]["resources"] == {"cpu": "1", "memory": "1Gi"} and t["worker"]["resources"] == {"cpu": "2", "gpus": 1}
    assert t["worker"]["policies"] == [{"action": "CompleteJob", "event": "TaskCompleted"}]
    assert t["worker"]["depends_on"] == ["ps"]
    assert spec["scheduling"] == {"queue": "research", "min_available": 3, "scheduler_name": "volcano",
                                  "policies": [{"action": "RestartJob", "event": "PodEvicted"}], "max_retry": 5}
    assert spec["options"] == {"type": "volcanojob", "tf_config": "auto",
                               "plugins": ["env", "svc:--disable-network-policy"]}
    assert spec["env"] == {"K": "v"} and spec["annotations"] == {"note": "x"}


def test_volcanojob_single_task_flags(arena):
    spec = both(arena, "volcano", "--name", "one", "--task-name", "trainer", "--task-replicas", "2",
                "--task-cpu", "250m", "--task-memory", "128Mi", "--gpus", "1", CMD)
    assert replicas(spec) == {"trainer": 2}
    assert tasks(spec)["trainer"]["resources"] == {"cpu": "250m", "memory": "128Mi", "gpus": 1}
    assert tasks(spec)["trainer"]["command"] == CMD
    assert "plugins" not in spec["options"] or spec["options"]["plugins"] == ["env", "svc"]


def test_appwrapperjob_pytorch_inner(arena):
    spec = both(arena, "aw", "--name", "awp", "--workers", "2", "--gpus", "1", "--kueue-queue", "team-a",
                "--retry-limit", "1", "--admission-grace-period", "2m", "--success-ttl", "1h",
                "--nproc-per-node", "gpu", "--retry", "3", CMD)
    assert spec["kind"] == "appwrapperjob" and spec["workers"] == 2
    assert replicas(spec) == {"master": 1, "worker": 1}
    assert spec["scheduling"] == {"kueue_queue": "team-a", "queue": "team-a"}  # locally the Kueue queue is a queue
    # the fork's cleanPodPolicy Running never reaches the operator (the CRD drops it): None, as it really runs
    assert spec["run_policy"] == {"backoff_limit": 3, "clean_pod_policy": "None"}
    assert spec["options"] == {"type": "appwrapperjob", "retry_limit": 1, "admission_grace_period": "2m",
                               "success_ttl": "1h", "nproc_per_node": "gpu"}


def test_appwrapperjob_volcano_inner(arena):
    spec = both(arena, "appwrapper", "--name", "awv", "--inner-type", "volcano", "--replicas", "4",
                "--min-available", "2", "--task-name", "worker1", "--max-retry", "7", "--master-port", "29400",
                "--use-svc-plugin=false", "--network-topology-mode", "hard", "--highest-tier-allowed", "2",
                "--total-partitions", "2", "--partition-size", "2", "--partition-topology-mode", "soft",
                "--partition-highest-tier", "1", "--ring-controller", "ascend-1980", "--cpu", "10m",
                "--device", "huawei.com/ascend-1980=16", "--toleration", "node.kubernetes.io/unreachable:NoExecute",
                "sleep 3000")
    assert replicas(spec) == {"worker1": 4} and spec["workers"] == 4
    t = tasks(spec)["worker1"]
    assert t["max_retry"] == 7 and t["resources"] == {"cpu": "10m", "devices": {"huawei.com/ascend-1980": 16}}
    assert spec["scheduling"] == {"min_available": 2, "scheduler_name": "volcano",
                                  "tolerations": ["node.kubernetes.io/unreachable:NoExecute"]}
    assert spec["options"] == {"type": "appwrapperjob", "inner_type": "volcano", "task_name": "worker1",
                               "master_port": 29400, "use_svc_plugin": False, "network_topology_mode": "hard",
                               "highest_tier_allowed": 2, "total_partitions": 2, "partition_size": 2,
                               "partition_topology_mode": "soft", "partition_highest_tier": 1,
                               "ring_controller": "ascend-1980"}
    # The fork's defaults: every replica is the gang, maxRetry 10000, the svc plugin on.
    spec = dry(arena, "aw", "--name", "awd", "--inner-type", "volcano", "--replicas", "3", CMD)
    assert spec["scheduling"]["min_available"] == 3 and spec["tasks"][0]["max_retry"] == 10000
    assert spec["tasks"][0]["name"] == "worker" and "use_svc_plugin" not in spec["options"]
    assert dry(arena, "aw", "--name", "awt", "--inner-type", "volcano", "--use-svc-plugin=true",
               CMD)["options"].get("use_svc_plugin", True) is True


@pytest.mark.parametrize("kind", ["pytorchjob", "py", "pytorch", "tfjob", "tf", "mpijob", "mpi", "mj", "volcanojob",
                                  "vj", "volcano", "appwrapperjob", "aw", "appwrapper"])
def test_every_alias_submits_its_kind(arena, kind):
    spec = dry(arena, kind, "--name", "alias", "-n", "team", CMD)
    canonical = {"py": "pytorchjob", "pytorch": "pytorchjob", "tf": "tfjob", "mpi": "mpijob", "mj": "mpijob",
                 "vj": "volcanojob", "volcano": "volcanojob", "aw": "appwrapperjob", "appwrapper": "appwrapperjob"}
    assert spec["kind"] == canonical.get(kind, kind) and spec["namespace"] == "team"


def test_dry_run_starts_no_daemon(arena):
    dry(arena, "tf", "--name", "quiet", CMD)
    assert arena.daemon_pid() is None
    assert not (arena.home / "arena.db").exists()


# ---------------------------------------------------------------------------------------------------
# Bad values: one line naming the flag, exit 2

BAD = [
    ("tfjob", ["--ps", "-1"], "--ps"),
    ("tfjob", ["--ps", "two"], "--ps"),
    ("tfjob", ["--workers", "0"], "--workers"),
    ("tfjob", ["--success-policy", "Sometimes"], "--success-policy"),
    ("tfjob", ["--ps", "1", "--ps-cpu", "lots"], "--ps-cpu"),
    ("tfjob", ["--worker-port", "70000"], "--worker-port"),
    ("tfjob", ["--ps-gpus", "1.5", "--ps", "1"], "--ps-gpus"),
    ("mpijob", ["--slots-per-worker", "0"], "--slots-per-worker"),
    ("mpijob", ["--mpi-implementation", "lam"], "--mpi-implementation"),
    ("mpijob", ["--mpi-api-version", "v9"], "--mpi-api-version"),
    ("mpijob", ["--clean-task-policy", "Some"], "--clean-task-policy"),
    ("volcanojob", ["--task", "worker"], "--task"),
    ("volcanojob", ["--task", "worker:2", "--policy", "PodFailed=Explode"], "--policy"),
    ("volcanojob", ["--task", "worker:2", "--policy", "ghost:PodFailed=RestartJob"], "--policy"),
    ("volcanojob", ["--task", "a:1", "--task", "b:1", "--depends-on", "a:b", "--depends-on", "b:a"], "--depends-on"),
    ("volcanojob", ["--task", "worker:2", "--min-available", "5"], "--min-available"),
    ("volcanojob", ["--task", "worker:2", "--plugin", "magic"], "--plugin"),
    ("volcanojob", ["--tf-config", "maybe"], "--tf-config"),
    ("volcanojob", ["--task", "worker:2", "--gpus", "1"], "--gpus"),
    ("volcanojob", ["--workers", "2"], "--workers"),  # not a volcanojob flag
    ("appwrapperjob", ["--inner-type", "ray"], "--inner-type"),
    ("appwrapperjob", ["--retry-limit", "-1"], "--retry-limit"),
    ("appwrapperjob", ["--warmup-grace-period", "soon"], "--warmup-grace-period"),
    ("appwrapperjob", ["--inner-type", "volcano", "--master-port", "0"], "--master-port"),
    ("appwrapperjob", ["--inner-type", "volcano", "--network-topology-mode", "loose"], "--network-topology-mode"),
    ("appwrapperjob", ["--inner-type", "volcano", "--total-partitions", "2"], "--partition-size"),
    ("appwrapperjob", ["--inner-type", "volcano", "--replicas", "2", "--min-available", "3"], "--min-available"),
    ("appwrapperjob", ["--nproc-per-node", "many"], "--nproc-per-node"),
    ("appwrapperjob", ["--replicas", "x"], "--replicas"),
    ("pytorchjob", ["--master-port", "99999"], "--master-port"),
    ("pytorchjob", ["--image-pull-policy", "Sometimes"], "--image-pull-policy"),
    # flags outside the context they need: refused, never silently ignored
    ("pytorchjob", ["--logdir", "/logs"], "--logdir"),
    ("tfjob", ["--ps-cpu", "1"], "--ps-cpu"),
    ("appwrapperjob", ["--replicas", "2"], "--replicas"),
    ("appwrapperjob", ["--inner-type", "volcano", "--workers", "2"], "--workers"),
    ("volcanojob", ["--task", "a:1", "--task-name", "x"], "--task-name"),
]


@pytest.mark.parametrize("kind,args,flag", BAD, ids=[f"{k}{f}-{i}" for i, (k, _, f) in enumerate(BAD)])
def test_bad_flag_value_is_one_line_exit_2(arena, kind, args, flag):
    line = bad(arena, kind, "--name", "bad", *args, "--dry-run", CMD)
    assert flag in line
    assert arena.daemon_pid() is None


@pytest.mark.parametrize("kind", ["pytorchjob", "tfjob", "mpijob", "volcanojob", "appwrapperjob"])
def test_image_pull_policy_reaches_the_job(arena, tmp_path, kind):
    """Parsed, so used: the flag alone, and over a job file."""
    spec = dry(arena, kind, "--name", "pull", "--image-pull-policy", "IfNotPresent", CMD)
    assert spec["image_pull_policy"] == "IfNotPresent"
    assert "image_pull_policy" not in dry(arena, kind, "--name", "pull", CMD)  # not given: the engine's default
    path = write(tmp_path, FILES[kind])
    assert dry(arena, "-f", path, "--image-pull-policy", "Never")["image_pull_policy"] == "Never"


@pytest.mark.parametrize("kind", ["pytorchjob", "tfjob", "mpijob", "volcanojob", "appwrapperjob"])
def test_name_is_required_without_a_file(arena, kind):
    assert bad(arena, kind, "--dry-run", CMD) == "arena: error: --name: is required"


def test_kind_is_required_without_a_file(arena):
    assert "kind" in bad(arena, "--name", "x", CMD)
    assert "KIND" in bad(arena)


# ---------------------------------------------------------------------------------------------------
# Job files

FILES = {
    "pytorchjob": """
kind: pytorchjob
name: pt-file
image: pytorch:2
command: python train.py
tasks:
  - {name: master, replicas: 1}
  - {name: worker, replicas: 2, resources: {gpus: 1}}
options: {nproc_per_node: auto}
""",
    "tfjob": """
kind: tf
name: tf-file
command: python mnist.py
tasks:
  - {name: ps, replicas: 1, resources: {cpu: 1}}
  - {name: worker, replicas: 2, resources: {cpu: 2, memory: 4Gi}}
options: {success_policy: AllWorkers}
""",
    "mpijob": """
kind: mpijob
name: mpi-file
command: mpirun ./app
tasks:
  - {name: worker, replicas: 2, resources: {gpus: 2}}
""",
    "volcanojob": """
kind: volcanojob
name: vc-file
command: python run.py
tasks:
  - {name: ps, replicas: 1}
  - name: worker
    replicas: 2
    depends_on: [ps]
    policies: [TaskCompleted=CompleteJob]
scheduling: {queue: default, min_available: 3}
options: {plugins: [env, svc]}
""",
    "appwrapperjob": """
kind: aw
name: aw-file
command: python train.py
tasks:
  - {name: trainer, replicas: 3}
options: {inner_type: volcano, task_name: trainer, retry_limit: 2}
""",
}
EXPECTED = {
    "pytorchjob": {"master": 1, "worker": 2},
    "tfjob": {"ps": 1, "worker": 2},
    "mpijob": {"launcher": 1, "worker": 2},
    "volcanojob": {"ps": 1, "worker": 2},
    "appwrapperjob": {"trainer": 3},
}


@pytest.mark.parametrize("kind", list(FILES))
def test_job_file_with_and_without_the_kind(arena, tmp_path, kind):
    path = write(tmp_path, FILES[kind])
    from_file = both(arena, "-f", path)  # the kind comes from the file
    assert from_file["kind"] == kind and replicas(from_file) == EXPECTED[kind]
    assert both(arena, kind, "-f", path) == from_file
    assert both(arena, kind, "--file", path) == from_file
    assert dry(arena, f"--file={path}") == from_file
    assert dry(arena, "-f", path, kind) == from_file  # the kind may follow the file


def test_job_file_contents_reach_the_spec(arena, tmp_path):
    spec = dry(arena, "-f", write(tmp_path, FILES["volcanojob"]))
    t = tasks(spec)
    assert t["worker"]["depends_on"] == ["ps"] and t["worker"]["command"] == "python run.py"
    assert t["worker"]["policies"] == [{"action": "CompleteJob", "event": "TaskCompleted"}]
    assert spec["scheduling"]["min_available"] == 3
    spec = dry(arena, "-f", write(tmp_path, FILES["appwrapperjob"]))
    assert spec["options"]["inner_type"] == "volcano" and spec["options"]["retry_limit"] == 2
    assert spec["tasks"][0]["max_retry"] == 10000 and spec["scheduling"]["scheduler_name"] == "volcano"
    spec = dry(arena, "-f", write(tmp_path, FILES["pytorchjob"]))
    assert spec["image"] == "pytorch:2" and spec["options"] == {"type": "pytorchjob", "nproc_per_node": "auto"}


OVERRIDES = {
    "pytorchjob": (["--workers", "4", "--nproc-per-node", "2", "--gpus", "2"],
                   lambda s: replicas(s) == {"master": 1, "worker": 3} and s["options"]["nproc_per_node"] == "2"
                   and all(t["resources"]["gpus"] == 2 for t in s["tasks"])),
    "tfjob": (["--workers", "5", "--ps", "2", "--ps-cpu", "3", "--success-policy", "ChiefWorker"],
              lambda s: replicas(s) == {"ps": 2, "worker": 5} and tasks(s)["ps"]["resources"]["cpu"] == "3"
              and tasks(s)["worker"]["resources"]["cpu"] == "2" and "success_policy" not in s["options"]),
    "mpijob": (["--workers", "3", "--slots-per-worker", "1", "--mpi-implementation", "openmpi"],
               lambda s: replicas(s) == {"launcher": 1, "worker": 3} and s["options"].get("slots_per_worker", 1) == 1
               and s["options"]["implementation"] == "openmpi"),
    "volcanojob": (["--task", "worker:4:1", "--min-available", "2", "--queue", "research", "--plugin", "none"],
                   lambda s: replicas(s) == {"ps": 1, "worker": 4} and tasks(s)["worker"]["resources"]["cpu"] == "1"
                   and s["scheduling"]["min_available"] == 2 and s["scheduling"]["queue"] == "research"
                   and s["options"]["plugins"] == []),
    "appwrapperjob": (["--replicas", "5", "--retry-limit", "0", "--use-svc-plugin=false", "--max-retry", "1"],
                      lambda s: replicas(s) == {"trainer": 5} and s["options"]["retry_limit"] == 0
                      and s["options"]["use_svc_plugin"] is False and s["tasks"][0]["max_retry"] == 1),
}


@pytest.mark.parametrize("kind", list(FILES))
def test_flags_override_the_file(arena, tmp_path, kind):
    path = write(tmp_path, FILES[kind])
    args, check = OVERRIDES[kind]
    spec = both(arena, kind, "-f", path, "--name", "renamed", "-n", "team", "-e", "EXTRA=1", *args, "echo override")
    assert spec["name"] == "renamed" and spec["namespace"] == "team" and spec["env"] == {"EXTRA": "1"}
    assert check(spec), spec
    # the positional command replaces the file's (mpijob: the launcher runs it)
    assert {t.get("command") for t in spec["tasks"]} - {None, ""} == {"echo override"}
    # the same overrides work without naming the kind
    assert dry(arena, "-f", path, "--name", "renamed", "-n", "team", "-e", "EXTRA=1", *args, "echo override") == spec


def test_flags_equal_to_the_default_do_not_reset_the_file(arena, tmp_path):
    """Only typed flags count: the parser's defaults never override what the file says."""
    spec = dry(arena, "tf", "-f", write(tmp_path, FILES["tfjob"]))
    assert spec["options"]["success_policy"] == "AllWorkers" and replicas(spec) == {"ps": 1, "worker": 2}
    text = FILES["pytorchjob"] + "shell: bash\nrun_policy: {clean_pod_policy: All, backoff_limit: 4}\n"
    spec = dry(arena, "py", "-f", write(tmp_path, text))
    assert spec["shell"] == "bash" and spec["run_policy"] == {"clean_pod_policy": "All", "backoff_limit": 4}


def test_file_envs_merge_with_flags_and_namespace_defaults(arena, tmp_path):
    text = FILES["tfjob"] + "envs: {A: file, B: file}\nlabels: {team: file}\n"
    spec = dry(arena, "-f", write(tmp_path, text), "-e", "B=flag", "-l", "owner=me")
    assert spec["env"] == {"A": "file", "B": "flag"} and spec["labels"] == {"team": "file", "owner": "me"}
    assert spec.get("namespace", "default") == "default"  # the default is left out of the dump


def test_bad_job_files(arena, tmp_path):
    assert "kind" in bad(arena, "py", "-f", write(tmp_path, FILES["tfjob"]), "--dry-run")
    assert "no kind" in bad(arena, "-f", write(tmp_path, "name: x\ncommand: true\ntasks: [{name: worker}]\n"))
    assert "cannot read" in bad(arena, "-f", str(tmp_path / "missing.yaml"))
    zero = FILES["tfjob"].replace("replicas: 2", "replicas: 0")
    assert "tasks[1].replicas" in bad(arena, "-f", write(tmp_path, zero), "--dry-run")
    assert "not valid YAML" in bad(arena, "tf", "-f", write(tmp_path, "kind: [tf\n"), "--dry-run")
    assert "--ps" in bad(arena, "-f", write(tmp_path, FILES["tfjob"]), "--ps", "two", "--dry-run")


# ---------------------------------------------------------------------------------------------------
# Upstream's deprecated camelCase spellings

@pytest.mark.parametrize("kind", ["pytorchjob", "tfjob", "mpijob", "volcanojob", "appwrapperjob"])
def test_deprecated_camel_case_flags(arena, tmp_path, kind):
    camel = dry(arena, kind, "--name", "camel", "--workingDir", "/work", "--dataDir", "/data:/mnt/data",
                "--syncMode", "git", "--syncSource", "https://example.com/repo.git", "--syncImage", "git:1", CMD)
    kebab = dry(arena, kind, "--name", "camel", "--working-dir", "/work", "--data-dir", "/data:/mnt/data",
                "--sync-mode", "git", "--sync-source", "https://example.com/repo.git", "--sync-image", "git:1", CMD)
    assert camel == kebab
    assert camel["working_dir"] == "/work"
    assert camel["data_dirs"] == [{"host_path": "/data", "mount_path": "/mnt/data"}]
    assert camel["sync"] == {"mode": "git", "source": "https://example.com/repo.git", "image": "git:1"}
