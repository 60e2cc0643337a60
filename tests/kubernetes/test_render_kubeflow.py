"""PyTorchJob, TFJob and MPIJob: the fields the operators and upstream Arena's users rely on."""
from __future__ import annotations

import msgspec
import pytest
from k8s_specs import CPU, GPU, env_of, main_container, mpi, pytorch, templates, tf

from arena.engines.kubernetes.render import render
from arena.errors import InvalidSpec
from arena.spec.job import JobSpec, Scheduling, TaskSpec, TFOptions


# ---- PyTorchJob ----------------------------------------------------------------------------
def test_pytorch_workers_count_the_master() -> None:
    job = render(pytorch(workers=3, gpus=1))[0]
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert {r: (s["replicas"], s["restartPolicy"]) for r, s in specs.items()} == {
        "Master": (1, "Never"), "Worker": (2, "OnFailure")}


def test_pytorch_master_only_has_no_worker_spec() -> None:
    assert list(render(pytorch(workers=1))[0]["spec"]["pytorchReplicaSpecs"]) == ["Master"]


def test_pytorch_container_command_port_and_resources() -> None:
    job = render(pytorch(workers=2, gpus=2, cpu="4", memory="16Gi", shell="bash", device=["amd.com/gpu=1"]))[0]
    for role, tpl in templates(job).items():
        c = main_container(tpl)
        assert c["name"] == "pytorch"
        assert c["command"] == ["bash", "-c", "python train.py"]
        assert c["workingDir"] == "/workspace"
        assert c["ports"] == [{"name": "pytorchjob-port", "containerPort": 23456, "protocol": "TCP"}]
        amounts = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 2, "amd.com/gpu": 1}
        assert c["resources"] == {"limits": amounts, "requests": amounts}


def test_pytorch_master_port_option_and_master_label() -> None:
    job = render(pytorch(workers=2, master_port=29500))[0]
    tpls = templates(job)
    assert main_container(tpls["Worker"])["ports"][0]["containerPort"] == 29500
    assert tpls["Master"]["metadata"]["labels"]["master-pod-name"] == "torch-job-master-0"
    assert "master-pod-name" not in tpls["Worker"]["metadata"]["labels"]


def test_pytorch_env_upstream_contract() -> None:
    job = render(pytorch(workers=3, gpus=0, nproc_per_node="4", env=["A=1", "workers=override"]))[0]
    env = env_of(templates(job)["Worker"])
    assert env["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert env["gpus"] == "0"
    assert env["workers"] == "override"  # the user's value wins
    assert env["PET_NPROC_PER_NODE"] == "4" and env["A"] == "1"
    assert "nprocPerNode" not in job["spec"]  # upstream's: the env only; the operator's WORLD_SIZE stays the pods


def test_pytorch_gpus_drop_void_and_set_gpus_env() -> None:
    env = env_of(templates(render(pytorch(workers=2, gpus=1))[0])["Master"])
    assert "NVIDIA_VISIBLE_DEVICES" not in env
    assert (env["workers"], env["gpus"]) == ("2", "1")
    assert "PET_NPROC_PER_NODE" not in env


def test_task_env_wins_over_job_env() -> None:
    spec = pytorch(workers=2, env=["X=job", "Y=job"])
    tasks = [msgspec.structs.replace(t, env={"X": "task"}) for t in spec.tasks]
    env = env_of(templates(render(msgspec.structs.replace(spec, tasks=tasks))[0])["Master"])
    assert (env["X"], env["Y"]) == ("task", "job")


def test_run_policy_fields() -> None:
    job = render(pytorch(retry=3, clean_task_policy="All", running_timeout="1h", ttl_after_finished="10m"))[0]
    assert job["spec"]["runPolicy"] == {"cleanPodPolicy": "All", "backoffLimit": 3,
                                        "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 600}


def test_gang_scheduling_policy_and_placement() -> None:
    spec = pytorch(workers=4, gang=True, priority="high", scheduler="volcano", queue="team-a",
                   selector=["pool=gpu"], toleration=["gpu:NoSchedule"])
    job = render(spec)[0]
    assert job["spec"]["runPolicy"]["schedulingPolicy"] == {"minAvailable": 4, "queue": "team-a",
                                                            "priorityClass": "high"}
    pod = templates(job)["Worker"]["spec"]
    assert pod["schedulerName"] == "volcano"
    assert pod["priorityClassName"] == "high"
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert "restartPolicy" not in pod  # the replica spec carries it


def test_gang_min_available_is_checked() -> None:
    spec = pytorch(workers=2, gang=True)
    spec = msgspec.structs.replace(spec, scheduling=msgspec.structs.replace(spec.scheduling, min_available=5))
    with pytest.raises(InvalidSpec) as err:
        render(spec)
    assert err.value.field == "--min-available"


def test_no_gang_no_scheduling_policy_no_scheduler() -> None:
    job = render(pytorch())[0]
    assert "schedulingPolicy" not in job["spec"]["runPolicy"]
    assert "schedulerName" not in templates(job)["Master"]["spec"]


def test_kubeflow_names_must_start_with_a_letter() -> None:
    spec = msgspec.structs.replace(pytorch(), name="1job")
    with pytest.raises(InvalidSpec) as err:
        render(spec)
    assert err.value.field == "--name"


def test_missing_image_is_reported() -> None:
    spec = msgspec.structs.replace(pytorch(), image="", tasks=[TaskSpec(name="master", command="x")])
    with pytest.raises(InvalidSpec) as err:
        render(spec)
    assert err.value.field == "--image"


# ---- TFJob ---------------------------------------------------------------------------------
def test_tf_replica_types_ports_and_void() -> None:
    job = render(tf(("chief", 1), ("ps", 2), ("worker", 3), ("evaluator", 1)))[0]
    specs = job["spec"]["tfReplicaSpecs"]
    assert {r: s["replicas"] for r, s in specs.items()} == {"Chief": 1, "PS": 2, "Worker": 3, "Evaluator": 1}
    for role, tpl in templates(job).items():
        c = main_container(tpl)
        assert c["name"] == "tensorflow"
        assert c["ports"] == [{"name": "tfjob-port", "containerPort": 2222, "protocol": "TCP"}]
        assert ("NVIDIA_VISIBLE_DEVICES" in env_of(tpl)) == (role != "Worker")
    assert "successPolicy" not in job["spec"]  # ChiefWorker is the operator's default


def test_tf_success_policy_standalone_and_custom_ports() -> None:
    spec = JobSpec(kind="tfjob", name="tf-job", image="tf:2", options=TFOptions(success_policy="AllWorkers",
                                                                               standalone=True),
                   tasks=[TaskSpec(name="chief", command="python a.py", port=20001, restart_policy="ExitCode")])
    job = render(spec)[0]
    assert job["spec"]["successPolicy"] == "AllWorkers"
    assert job["metadata"]["annotations"]["arena.kubeflow.org/disable-tf-config"] == "true"
    assert job["spec"]["tfReplicaSpecs"]["Chief"]["restartPolicy"] == "ExitCode"
    assert main_container(templates(job)["Chief"])["ports"][0]["containerPort"] == 20001


def test_tf_unknown_role_is_an_error() -> None:
    with pytest.raises(InvalidSpec) as err:
        render(tf(("launcher", 1)))
    assert err.value.field == "tasks"


# ---- MPIJob --------------------------------------------------------------------------------
@pytest.mark.parametrize("api,impl,expected", [("v1", "auto", None), ("v2beta1", "auto", None),
                                               ("v2beta1", "mpich", "MPICH"), ("v2beta1", "openmpi", "OpenMPI")])
def test_mpi_versions(api: str, impl: str, expected: str | None) -> None:
    job = render(mpi(api, impl))[0]
    assert job["apiVersion"] == f"kubeflow.org/{api}"
    assert job["spec"]["slotsPerWorker"] == 2
    assert job["spec"].get("mpiImplementation") == expected
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] == "All"
    specs = job["spec"]["mpiReplicaSpecs"]
    assert (specs["Launcher"]["replicas"], specs["Worker"]["replicas"]) == (1, 2)
    launcher, worker = main_container(specs["Launcher"]["template"]), main_container(specs["Worker"]["template"])
    assert launcher["command"][:2] == ["sh", "-c"]
    assert "command" not in worker  # workers keep the image entrypoint (sshd / kubectl exec target)
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_mpi_needs_a_launcher() -> None:
    spec = msgspec.structs.replace(mpi(), tasks=[TaskSpec(name="worker", replicas=2, resources=GPU)])
    with pytest.raises(InvalidSpec):
        render(spec)


def test_cpu_resources_only() -> None:
    job = render(tf(("ps", 1)))[0]
    assert main_container(templates(job)["PS"])["resources"]["limits"] == {"cpu": CPU.cpu, "memory": CPU.memory}


def test_scheduling_queue_only_with_gang() -> None:
    spec = msgspec.structs.replace(tf(("worker", 2)), scheduling=Scheduling(queue="q1", gang=True, min_available=1))
    assert render(spec)[0]["spec"]["runPolicy"]["schedulingPolicy"] == {"minAvailable": 1, "queue": "q1"}


@pytest.mark.parametrize("make", [lambda: pytorch(kueue_queue="team-a"),
                                  lambda: msgspec.structs.replace(tf(("worker", 2)),
                                                                  scheduling=Scheduling(kueue_queue="team-a")),
                                  lambda: msgspec.structs.replace(mpi(), scheduling=Scheduling(kueue_queue="team-a"))])
def test_kueue_queue_label_on_the_job_only(make) -> None:
    job = render(make())[0]
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    for tpl in templates(job).values():
        assert "kueue.x-k8s.io/queue-name" not in tpl["metadata"]["labels"]
