"""Pods as `kubectl get pods` shows them, GPU counting, instance views, log target choice (pure)."""
from __future__ import annotations

from typing import Any

import msgspec
import pytest
from k8s_objects import cond, pod, running_state, terminated_state, waiting_state

from arena.engines.kubernetes import pods
from arena.engines.kubernetes.engine import default_container, pick_pod
from arena.engines.kubernetes.models import Pod
from arena.errors import ArenaError, InvalidSpec


def P(obj: dict[str, Any]) -> Pod:
    return msgspec.convert(obj, Pod)


def two_containers(first: dict, second: dict, ready: bool) -> dict[str, Any]:
    p = pod("j-worker-0", state=first)
    p["spec"]["containers"].append({"name": "sidecar", "image": "s"})
    p["status"]["containerStatuses"].append({"name": "sidecar", "state": second, "ready": ready, "restartCount": 0})
    p["status"]["conditions"][-1]["status"] = "True" if ready else "False"
    return p


def unscheduled() -> dict[str, Any]:
    p = pod("j-worker-0", phase="Pending", node=None, started=False)
    p["status"].pop("containerStatuses")
    p["status"]["conditions"] = [cond("PodScheduled", "False", reason="Unschedulable",
                                      message="0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")]
    return p


def gated() -> dict[str, Any]:
    p = unscheduled()
    p["status"]["conditions"] = [cond("PodScheduled", "False", reason="SchedulingGated")]
    return p


WORDS = [
    ("running", pod("j-worker-0"), "Running"),
    ("unscheduled", unscheduled(), "Pending"),
    ("scheduling gated (Kueue)", gated(), "SchedulingGated"),
    ("image pull", pod("j-worker-0", phase="Pending", state=waiting_state("ContainerCreating")), "ContainerCreating"),
    ("crash loop", pod("j-worker-0", state=waiting_state("CrashLoopBackOff", "back-off 5m0s"), restarts=5),
     "CrashLoopBackOff"),
    ("completed", pod("j-worker-0", phase="Succeeded"), "Completed"),
    ("error", pod("j-worker-0", phase="Failed"), "Error"),
    ("oom", pod("j-worker-0", phase="Failed", state=terminated_state(137, "OOMKilled")), "OOMKilled"),
    ("exit code without reason", pod("j-worker-0", phase="Failed", state=terminated_state(3)), "ExitCode:3"),
    ("signal without reason", pod("j-worker-0", phase="Failed", state=terminated_state(137, signal=9)), "Signal:9"),
    ("init running", pod("j-worker-0", phase="Pending", state=waiting_state("PodInitializing"),
                         init=[("init-code", running_state())]), "Init:0/1"),
    ("second init running", pod("j-worker-0", phase="Pending", state=waiting_state("PodInitializing"),
                                init=[("a", terminated_state(0, "Completed")), ("init-code", running_state())]),
     "Init:1/2"),
    ("init crash loop", pod("j-worker-0", phase="Pending", state=waiting_state("PodInitializing"),
                            init=[("init-code", waiting_state("CrashLoopBackOff"))]), "Init:CrashLoopBackOff"),
    ("init failed", pod("j-worker-0", phase="Failed", state=waiting_state("PodInitializing"),
                        init=[("init-code", terminated_state(128, "Error"))]), "Init:Error"),
    ("init exit code", pod("j-worker-0", phase="Pending", state=waiting_state("PodInitializing"),
                           init=[("init-code", terminated_state(2))]), "Init:ExitCode:2"),
    ("init done, main starting", pod("j-worker-0", phase="Pending", state=waiting_state("PodInitializing"),
                                     init=[("init-code", terminated_state(0, "Completed"))]), "PodInitializing"),
    ("terminating", pod("j-worker-0", deleting=True), "Terminating"),
    ("node lost", pod("j-worker-0", deleting=True, reason="NodeLost"), "Unknown"),
    ("evicted", {**pod("j-worker-0", phase="Failed", reason="Evicted"),
                 "status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."}},
     "Evicted"),
    ("one of two containers completed, other ready", two_containers(terminated_state(0, "Completed"),
                                                                     running_state(), True), "Running"),
    ("one of two completed, pod not ready", two_containers(running_state(), terminated_state(0, "Completed"), False),
     "NotReady"),
]


@pytest.mark.parametrize(("case", "obj", "word"), WORDS, ids=[w[0] for w in WORDS])
def test_phase_word_like_kubectl(case: str, obj: dict, word: str) -> None:
    assert pods.phase_word(P(obj)) == word


def test_restarts_and_instance_fields() -> None:
    inst = pods.instance(P(pod("j-worker-1", index=1, gpus=2, restarts=3)), is_chief=False)
    assert (inst.task, inst.index, inst.requestGPUs, inst.restarts, inst.node, inst.status) == \
        ("worker", 1, 2, 3, "node-1", "Running")
    waiting = pods.instance(P(unscheduled()))
    assert waiting.node == "N/A" and waiting.startTime is None
    failed = pods.instance(P(pod("j-worker-0", phase="Failed", state=terminated_state(3, "Error"))))
    assert failed.exitCode == 3 and failed.finishTime is not None


def test_gpu_counting() -> None:
    p = pod("j-worker-0", gpus=2)
    assert pods.gpus(P(p)) == 2
    p["spec"]["containers"][0]["resources"]["limits"] = {"alpha.kubernetes.io/nvidia-gpu": "1", "aliyun.com/gpu": "1"}
    assert pods.gpus(P(p)) == 2
    assert pods.holds_gpus(P(pod("j-worker-0", gpus=1)))
    assert not pods.holds_gpus(P(pod("j-worker-0", gpus=1, phase="Succeeded")))
    assert not pods.holds_gpus(P(pod("j-worker-0", gpus=1, deleting=True)))
    assert not pods.holds_gpus(P(unscheduled()))


def test_role_from_labels_or_name() -> None:
    assert pods.role(P(pod("x-launcher", kind="mpijob", task="launcher"))) == ("launcher", 0)
    v = pod("vc-ps-1", kind="volcanojob", task="ps", index=1)
    assert pods.role(P(v)) == ("ps", 1)
    bare = pod("vc-trainer-3")
    bare["metadata"]["labels"] = {"release": "vc"}
    assert pods.role(P(bare)) == ("trainer", 3)


def test_chief_prefers_the_newest_running_copy() -> None:
    old = pod("j-master-0", task="master", created="2026-03-01T09:00:00Z")
    new_pending = pod("j-master-0", task="master", phase="Pending", created="2026-03-01T11:00:00Z")
    assert pods.chief("pytorchjob", [P(new_pending), P(old)]).status.phase == "Running"


def test_pick_pod_rules() -> None:
    items = [P(pod("j-master-0", task="master")), P(pod("j-worker-0")), P(pod("j-worker-1", index=1))]
    assert pick_pod("pytorchjob", "j", items, None).metadata.name == "j-master-0"
    assert pick_pod("pytorchjob", "j", items, "worker-1").metadata.name == "j-worker-1"
    assert pick_pod("pytorchjob", "j", items, "j-worker-0").metadata.name == "j-worker-0"
    with pytest.raises(InvalidSpec, match="--instance"):
        pick_pod("pytorchjob", "j", items, "nope")
    with pytest.raises(InvalidSpec, match="no chief"):
        pick_pod("volcanojob", "j", [P(pod("j-a-1", kind="volcanojob", task="a", index=1)),
                                     P(pod("j-b-1", kind="volcanojob", task="b", index=1))], None)
    with pytest.raises(ArenaError, match="no instances yet"):
        pick_pod("pytorchjob", "j", [], None)


def test_default_container_follows_code_sync() -> None:
    syncing = pod("j-master-0", task="master", phase="Pending", state=waiting_state("PodInitializing"),
                  init=[("init-code", running_state())])
    assert default_container(P(syncing)) == "init-code"
    assert default_container(P(pod("j-master-0", task="master"))) == "pytorch"
    annotated = pod("j-master-0", annotations={"kubectl.kubernetes.io/default-container": "main"})
    assert default_container(P(annotated)) == "main"
