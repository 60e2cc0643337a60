"""Volcano Job: tasks, gang size, policies, plugins and the per-replica TF_CONFIG."""
from __future__ import annotations

import json
import re

import msgspec
import pytest
from k8s_specs import CPU, env_of, main_container, templates, volcano, volcano_policies, volcano_tf

from arena.engines.kubernetes.render import render
from arena.errors import InvalidSpec
from arena.spec.job import Policy, RunPolicy, Scheduling, TaskSpec, VolcanoOptions


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of an env value, as the kubelet does it."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def test_defaults() -> None:
    job = render(volcano())[0]
    assert (job["apiVersion"], job["kind"]) == ("batch.volcano.sh/v1alpha1", "Job")
    spec = job["spec"]
    assert spec["schedulerName"] == "volcano"
    assert spec["minAvailable"] == 2
    assert spec["queue"] == "default"
    assert spec["plugins"] == {"env": [], "svc": []}
    task = spec["tasks"][0]
    assert (task["name"], task["replicas"]) == ("task", 2)
    tpl = task["template"]
    assert tpl["spec"]["restartPolicy"] == "Never"
    assert tpl["metadata"]["labels"]["volcano-role"] == "driver"
    c = main_container(tpl)
    assert c["name"] == "task"
    assert c["ports"] == [{"name": "job-port", "containerPort": 2222, "protocol": "TCP"}]
    env = env_of(tpl)
    assert env == {"NVIDIA_VISIBLE_DEVICES": "void"}  # no upstream workers/gpus env for volcanojob


def test_policies_retry_depends_on_and_plugins() -> None:
    spec = render(volcano_policies())[0]["spec"]
    assert spec["queue"] == "team-a"
    assert spec["maxRetry"] == 4
    assert spec["priorityClassName"] == "high"
    assert spec["policies"] == [{"event": "PodFailed", "action": "AbortJob"}]
    assert spec["plugins"] == {"env": [], "svc": ["--publish-not-ready-addresses=true"], "ssh": []}
    master, worker = spec["tasks"]
    assert master["policies"] == [{"event": "TaskCompleted", "action": "CompleteJob"}]
    assert worker["policies"] == [{"exitCode": 137, "action": "RestartTask"},
                                  {"event": "PodEvicted", "action": "RestartJob", "timeout": "30s"}]
    assert worker["dependsOn"] == {"name": ["master"]}
    assert (worker["minAvailable"], worker["maxRetry"]) == (1, 5)
    assert worker["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert "volcano-role" not in worker["template"]["metadata"]["labels"]
    # dependsOn: only the root task's pods exist at first, so they are the gang
    assert spec["minAvailable"] == 1


def test_min_available_larger_than_roots_is_refused() -> None:
    spec = volcano_policies()
    spec = msgspec.structs.replace(spec, scheduling=msgspec.structs.replace(spec.scheduling, min_available=3))
    with pytest.raises(InvalidSpec) as err:
        render(spec)
    assert err.value.field == "--min-available"


@pytest.mark.parametrize("policy,field", [
    (Policy(action="Explode", event="PodFailed"), "--policy"),
    (Policy(action="RestartJob"), "--policy"),
    (Policy(action="RestartJob", event="PodFailed", exit_code=1), "--policy"),
    (Policy(action="RestartJob", exit_code=0), "--policy"),
    (Policy(action="RestartJob", event="PodRunning"), "--policy"),
    (Policy(action="RestartJob", event="PodFailed", timeout="1d"), "--policy"),
])
def test_bad_policies(policy: Policy, field: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        render(volcano(scheduling=Scheduling(policies=[policy])))
    assert err.value.field == field


def test_duplicate_policy_event() -> None:
    policies = [Policy(action="RestartJob", event="PodFailed"), Policy(action="AbortJob", event="PodFailed")]
    with pytest.raises(InvalidSpec):
        render(volcano(scheduling=Scheduling(policies=policies)))


def test_depends_on_cycle_and_unknown() -> None:
    a = TaskSpec(name="a", command="x", depends_on=["b"])
    b = TaskSpec(name="b", command="x", depends_on=["a"])
    with pytest.raises(InvalidSpec, match="cycle"):
        render(volcano([a, b], scheduling=Scheduling(min_available=1)))
    with pytest.raises(InvalidSpec):
        render(volcano([TaskSpec(name="a", command="x", depends_on=["zzz"])]))


def test_unknown_plugin_and_duplicate_task() -> None:
    with pytest.raises(InvalidSpec) as err:
        render(volcano(options=VolcanoOptions(plugins=["magic"])))
    assert err.value.field == "--plugin"
    with pytest.raises(InvalidSpec):
        render(volcano([TaskSpec(name="t", command="x"), TaskSpec(name="t", command="y")]))


def test_svc_plugin_needs_a_dns1035_job_name() -> None:
    with pytest.raises(InvalidSpec) as err:
        render(msgspec.structs.replace(volcano(), name="9lives"))
    assert err.value.field == "--name"
    # without the svc plugin no Service is named after the job
    render(msgspec.structs.replace(volcano(options=VolcanoOptions(plugins=["env"])), name="9lives"))


def test_restart_policy_exit_code_is_not_a_pod_policy() -> None:
    with pytest.raises(InvalidSpec):
        render(volcano([TaskSpec(name="t", command="x", restart_policy="ExitCode")]))


def test_ttl_and_scheduler_override() -> None:
    spec = volcano(run_policy=RunPolicy(ttl_seconds_after_finished=60),
                   scheduling=Scheduling(scheduler_name="kube-batch"))
    out = render(spec)[0]["spec"]
    assert (out["ttlSecondsAfterFinished"], out["schedulerName"]) == (60, "kube-batch")


# ---- TF_CONFIG -----------------------------------------------------------------------------
def test_tf_config_per_replica() -> None:
    job = render(volcano_tf())[0]
    hosts = {"ps": ["vc-job-ps-0.vc-job:2222"],
             "worker": [f"vc-job-worker-{i}.vc-job:2222" for i in range(3)]}
    for task in job["spec"]["tasks"]:
        container = main_container(task["template"])
        names = [e["name"] for e in container["env"]]
        assert names.index("ARENA_TASK_INDEX") < names.index("TF_CONFIG")  # $(VAR) needs it defined first
        env = env_of(task["template"])
        assert env["ARENA_TASK_INDEX"] == {"fieldRef": {"fieldPath": "metadata.annotations['volcano.sh/task-index']"}}
        # no shell glue: the user's command runs as given
        assert container["command"] == ["sh", "-c", f"python {task['name']}.py"]
        for index in range(task["replicas"]):
            config = json.loads(expand(env["TF_CONFIG"], {"ARENA_TASK_INDEX": str(index)}))
            assert config == {"cluster": hosts, "task": {"type": task["name"], "index": index},
                              "environment": "cloud"}
        assert container["ports"] == [{"name": "tfjob-port", "containerPort": 2222, "protocol": "TCP"}]


def test_tf_config_uses_task_ports_and_user_can_override() -> None:
    tasks = [TaskSpec(name="chief", command="c", port=3000, resources=CPU),
             TaskSpec(name="worker", replicas=2, command="w", env={"TF_CONFIG": "{}"})]
    job = render(volcano(tasks, options=VolcanoOptions(tf_config="auto")))[0]
    chief, worker = (templates(job)[n] for n in ("chief", "worker"))
    config = json.loads(expand(env_of(chief)["TF_CONFIG"], {"ARENA_TASK_INDEX": "0"}))
    assert config["cluster"] == {"chief": ["vc-job-chief-0.vc-job:3000"],
                                 "worker": ["vc-job-worker-0.vc-job:2222", "vc-job-worker-1.vc-job:2222"]}
    assert env_of(worker)["TF_CONFIG"] == "{}"


def test_tf_config_needs_the_svc_plugin() -> None:
    with pytest.raises(InvalidSpec):
        render(volcano(options=VolcanoOptions(tf_config="auto", plugins=["env"])))


def test_volcano_tensorflow_plugin_writes_tf_config_itself() -> None:
    """With Volcano's own tensorflow plugin (which implies svc) no second TF_CONFIG is rendered."""
    job = render(volcano([TaskSpec(name="ps", command="p"), TaskSpec(name="worker", replicas=2, command="w")],
                         options=VolcanoOptions(tf_config="auto", plugins=["env", "tensorflow"])))[0]
    for tpl in templates(job).values():
        assert "TF_CONFIG" not in env_of(tpl)
        assert main_container(tpl)["ports"][0]["containerPort"] == 2222


def test_kueue_queue_is_refused_for_a_bare_volcano_job() -> None:
    with pytest.raises(InvalidSpec) as err:
        render(volcano(scheduling=Scheduling(kueue_queue="q")))
    assert err.value.field == "--kueue-queue"
