"""Our CLI driven exactly as upstream's Python SDK (kubeflow/arena `sdk/arena-python-sdk`) drives its binary.

That SDK builds each command as a list of words, joins them with spaces and runs the string with
`shell=True`; it appends `--config=… --namespace=… --arena-namespace=… --loglevel=…` right after the
command words (so before the kind of `submit` and the name of `get`); it reads `-o json` field by field
as its `TrainingJobInfo`; and it recognises a duplicate and a missing job only by upstream's texts.
`UpstreamSdk` below reproduces those rules (not its code) and runs the whole life of a job on the local
engine: submit, get, list, logs, duplicate submit, delete, get after delete, prune.
"""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

# The SDK's enums: a trainer or status outside them reads as unknown, which breaks its users.
SDK_JOB_TYPES = {"tfjob", "mpijob", "pytorchjob", "horovodjob", "volcanojob", "sparkjob", "etjob"}
SDK_STATUSES = {"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "SCALING"}


class SdkError(Exception):
    def __init__(self, kind: str, output: str) -> None:
        super().__init__(f"{kind}: {output}")
        self.kind = kind
        self.output = output


@dataclass
class Instance:
    owner: str
    owner_type: str
    namespace: str
    name: str
    status: str
    age: str
    node: str
    node_ip: str
    chief: bool
    request_gpus: int
    gpu_metrics: dict[str, tuple[float, float, float]] = field(default_factory=dict)


@dataclass
class TrainingJobInfo:
    name: str
    namespace: str
    duration: str
    status: str
    job_type: str
    tensorboard: str
    chief_name: str
    priority: str
    request_gpus: int
    allocated_gpus: int
    instances: list[Instance]


def training_job_info(data: dict[str, Any]) -> TrainingJobInfo:
    """The SDK's `generate_training_job_info`: these keys, read as it reads them (a missing one is a crash)."""
    info = TrainingJobInfo(
        name=data["name"], namespace=data["namespace"], duration=data["duration"],
        status=data["status"] if data["status"] in SDK_STATUSES else "UNKNOWN",
        job_type=data["trainer"] if data["trainer"] in SDK_JOB_TYPES else "unknown",
        tensorboard=data["tensorboard"], chief_name=data["chiefName"], priority=data["priority"],
        request_gpus=data["requestGPUs"], allocated_gpus=data["allocatedGPUs"], instances=[])
    for i in data["instances"]:
        metrics = {k: (v["gpuDutyCycle"], v["usedGPUMemory"], v["totalGPUMemory"]) for k, v in i["gpuMetrics"].items()}
        info.instances.append(Instance(
            owner=info.name, owner_type=info.job_type, namespace=info.namespace, name=i["name"], status=i["status"],
            age=i["age"], node=i["node"], node_ip=i["nodeIP"], chief=i["chief"], request_gpus=i["requestGPUs"],
            gpu_metrics=metrics))
    return info


class UpstreamSdk:
    """`ArenaClient(kubeconfig, namespace, loglevel, arena_namespace).training()`, rule for rule."""

    def __init__(self, env: dict[str, str], kubeconfig: str = "", namespace: str = "default",
                 loglevel: str = "info", arena_namespace: str = "arena-system") -> None:
        self.env = env
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.loglevel = loglevel
        self.arena_namespace = arena_namespace
        self.commands: list[str] = []

    def _words(self, *sub_commands: str) -> list[str]:
        words = ["arena", *sub_commands]
        for flag, value in (("--config", self.kubeconfig), ("--namespace", self.namespace),
                            ("--arena-namespace", self.arena_namespace), ("--loglevel", self.loglevel)):
            if value != "":
                words.append(f"{flag}={value}")
        return words

    def _run(self, words: list[str]) -> tuple[int, str, str]:
        line = " ".join(words)  # no quoting, as the SDK: the caller embeds quotes in the command
        self.commands.append(line)
        p = subprocess.run(line, shell=True, env=self.env, capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def submit(self, job_type: str, args: list[str], command: str) -> str:
        rc, out, err = self._run([*self._words("submit"), job_type, *args, command])
        if rc != 0:
            name = next(a.removeprefix("--name=") for a in args if a.startswith("--name="))
            if f"the job {name} is already exist, please delete it first." in out + err:
                raise SdkError("TrainingJobExistError", out + err)
            raise SdkError("SubmitTrainingJobError", out + err)
        return out

    def get(self, name: str, job_type: str) -> TrainingJobInfo | None:
        rc, out, err = self._run([*self._words("get"), name, f"--type={job_type}", "-o", "json"])
        if rc != 0:
            missing = (f"Not found training job {name} in namespace {self.namespace},"
                       "please use 'arena submit' to create it.")
            if missing in out or missing in err:
                return None
            raise SdkError("GetTrainingJobError", out + err)
        return training_job_info(json.loads(out))

    def list(self, job_type: str = "", all_namespaces: bool = False) -> list[TrainingJobInfo]:
        words = self._words("list")
        if job_type:
            words.append(f"--type={job_type}")
        if all_namespaces:
            words.append("-A")
        rc, out, err = self._run([*words, "-o", "json"])
        if rc != 0:
            raise SdkError("ListTrainingJobError", out + err)
        return [training_job_info(d) for d in json.loads(out)]

    def delete(self, name: str, job_type: str) -> str:
        rc, out, err = self._run([*self._words("delete"), name, f"--type={job_type}"])
        if rc != 0:
            raise SdkError("DeleteTrainingJobError", out + err)
        return out

    def prune(self, since: str, all_namespaces: bool = False) -> str:
        words = [*self._words("prune"), f"--since={since}"]
        if all_namespaces:
            words.append("-A")
        rc, out, err = self._run(words)
        if rc != 0:
            raise SdkError("PruneTrainingJobError", out + err)
        return out

    def logs(self, instance: Instance, tail: int | None = None, since: str | None = None) -> str:
        """`Instance.get_logs(LoggerBuilder()...)`: its own word order, and no --loglevel."""
        words = ["arena", "logs", instance.owner, f"-T={instance.owner_type}"]
        if tail is not None:
            words.append(f"--tail={tail}")
        if since is not None:
            words.append(f"--since={since}")
        words.append(f"-i={instance.name}")
        if self.kubeconfig:
            words.append(f"--config={self.kubeconfig}")
        words.append(f"--namespace={instance.namespace}")
        words.append(f"--arena-namespace={self.arena_namespace}")
        rc, out, err = self._run(words)
        if rc != 0:
            raise SdkError("LogsTrainingJobError", out + err)
        return out


def pytorch_job(name: str, command: str, workers: int = 2) -> tuple[list[str], str]:
    """`PytorchJobBuilder().with_name(..).with_image(..).with_workers(..).with_gpus(0).with_envs(..)
    .with_command(..).build()`: StringField options as `--flag=value`, one `--env=K=V` per item."""
    args = [f"--name={name}", "--image=registry.example.com/pytorch:1.5", f"--workers={workers}", "--gpus=0",
            "--env=GREETING=hello", "--working-dir=/tmp"]
    return args, f"'{command}'"


def wait_for(sdk: UpstreamSdk, name: str, statuses: set[str], timeout: float = 90) -> TrainingJobInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = sdk.get(name, "pytorchjob")
        assert info is not None
        if info.status in statuses:
            return info
        assert time.monotonic() < deadline, f"{name} stayed {info.status}"
        time.sleep(0.3)


def test_upstream_sdk_drives_a_job_through_its_whole_life(arena: Any, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"  # the SDK always passes --config when given one; unused locally
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    sdk = UpstreamSdk(arena.env, kubeconfig=str(kubeconfig))

    args, command = pytorch_job("sdk-job", "echo $GREETING from rank $RANK; sleep 2")
    out = sdk.submit("pytorchjob", args, command)
    assert "pytorchjob/sdk-job created" in out
    assert sdk.commands[-1].startswith(f"arena submit --config={kubeconfig} --namespace=default "
                                       "--arena-namespace=arena-system --loglevel=info pytorchjob --name=sdk-job ")

    info = wait_for(sdk, "sdk-job", {"RUNNING", "SUCCEEDED"})
    assert (info.name, info.namespace, info.job_type, info.priority) == ("sdk-job", "default", "pytorchjob", "N/A")
    assert (info.request_gpus, info.tensorboard) == (0, "")
    assert info.duration.endswith("s") and info.duration[:-1].isdigit()
    assert [i.name for i in info.instances] == ["sdk-job-master-0", "sdk-job-worker-0"]
    chief = next(i for i in info.instances if i.chief)
    assert chief.name == info.chief_name == "sdk-job-master-0"
    assert (chief.owner_type, chief.node_ip, chief.gpu_metrics) == ("pytorchjob", "127.0.0.1", {})
    assert chief.age.endswith("s")

    listed = {j.name: j for j in sdk.list("pytorchjob")}
    assert listed["sdk-job"].job_type == "pytorchjob"

    with pytest.raises(SdkError) as dup:
        sdk.submit("pytorchjob", *pytorch_job("sdk-job", "true"))
    assert dup.value.kind == "TrainingJobExistError"

    done = wait_for(sdk, "sdk-job", {"SUCCEEDED", "FAILED"})
    assert done.status == "SUCCEEDED"
    worker = next(i for i in done.instances if not i.chief)
    assert sdk.logs(chief, tail=10).strip() == "hello from rank 0"
    assert sdk.logs(worker, since="5m").strip() == "hello from rank 1"

    sdk.delete("sdk-job", "pytorchjob")
    assert sdk.get("sdk-job", "pytorchjob") is None  # upstream's not-found text, matched by the SDK

    args, command = pytorch_job("sdk-short", "true", workers=1)
    sdk.submit("pytorchjob", args, command)
    wait_for(sdk, "sdk-short", {"SUCCEEDED"})
    time.sleep(1.1)
    assert "Delete pytorchjob sdk-short with Age" in sdk.prune("1s")
    assert sdk.get("sdk-short", "pytorchjob") is None
    assert "No job need to be deleted" in sdk.prune("1s")


def test_upstream_sdk_get_of_a_missing_job_is_none_in_any_namespace(arena: Any) -> None:
    sdk = UpstreamSdk(arena.env, namespace="team-a")
    assert sdk.get("ghost", "pytorchjob") is None
    assert sdk.list() == []
