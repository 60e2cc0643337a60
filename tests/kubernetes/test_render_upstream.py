"""Rendered for a cluster, a job submitted with upstream Arena's flags matches what upstream's charts render
for the same flags (docs/compatibility.md lists where it differs on purpose, and why). Every manifest is
validated against the CRD and core schemas, as the other render tests do."""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
import yaml
from k8s_specs import env_of, main_container, templates
from k8s_validation import Validator

from arena import kinds
from arena.engines.kubernetes import planner
from arena.engines.kubernetes.render import render
from arena.engines.kubernetes.render.configmaps import kubectl_name, record_name
from arena.errors import InvalidSpec
from arena.spec.job import JobSpec

CMD = "python train.py"
SHM = {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}


def spec(kind: str, **opts: Any) -> JobSpec:
    """A spec built as `arena submit KIND --flag ...` builds it."""
    return kinds.get(kind).spec_from_options({"name": "up", "image": "img:1", "command": CMD, **opts})


def pods(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Role → pod template, for every job object including MPIJob v1alpha1's single template."""
    if obj["kind"] == "MPIJob" and "template" in obj["spec"]:
        return {"template": obj["spec"]["template"]}
    return templates(obj)


# ---- /dev/shm ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["pytorchjob", "tfjob", "mpijob", "appwrapperjob"])
def test_every_replica_gets_upstreams_2gi_shm(validator: Validator, kind: str) -> None:
    manifests = render(spec(kind, workers=2))
    for tpl in pods(manifests[0]).values():
        assert SHM in tpl["spec"]["volumes"]
        assert {"name": "dshm", "mountPath": "/dev/shm"} in main_container(tpl)["volumeMounts"]
    validator.assert_valid(manifests)


def test_shm_size_zero_and_volcanojob() -> None:
    big = render(spec("pytorchjob", share_memory="8Gi"))[0]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in \
        templates(big)["Master"]["spec"]["volumes"]
    none = render(spec("pytorchjob", share_memory="0"))[0]
    assert "volumes" not in templates(none)["Master"]["spec"]
    vj = render(spec("volcanojob"))[0]  # upstream's volcanojob chart mounts none
    assert all("volumes" not in t["spec"] for t in templates(vj).values())


# ---- image pull policy and secrets ---------------------------------------------------------
def test_pull_secrets_from_the_flag_and_the_arena_config(validator: Validator) -> None:
    job_spec = spec("pytorchjob", workers=2, image_pull_secret=["regcred", "other"], tensorboard=True)
    manifests = render(job_spec)
    for tpl in templates(manifests[0]).values():
        assert tpl["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other"}]
        assert main_container(tpl)["imagePullPolicy"] == "Always"
    tb = next(m for m in manifests if m["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert tb["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other"}]
    validator.assert_valid(manifests)
    # Not given: the arena config's imagePullSecrets (upstream's fallback), a list or upstream's comma string.
    plain = spec("pytorchjob")
    for config in ({"imagePullSecrets": "a,b"}, {"imagePullSecrets": ["a", "b"]}):
        job = planner.plan(plain, {}, config=config).manifests[0]
        assert templates(job)["Master"]["spec"]["imagePullSecrets"] == [{"name": "a"}, {"name": "b"}]
    given = planner.plan(spec("pytorchjob", image_pull_secret=["mine"]), {}, config={"imagePullSecrets": "a"})
    assert templates(given.manifests[0])["Master"]["spec"]["imagePullSecrets"] == [{"name": "mine"}]
    assert "imagePullSecrets" not in templates(render(plain)[0])["Master"]["spec"]


# ---- code sync: -e values and credentials --------------------------------------------------
def test_user_env_reaches_the_git_sync_container() -> None:
    job = render(spec("pytorchjob", sync_mode="git", sync_source="https://github.com/a/proj.git",
                      env=["GIT_SYNC_BRANCH=dev", "GIT_SYNC_DEPTH=1", "GIT_SYNC_ROOT=/elsewhere", "NCCL_DEBUG=INFO"]))[0]
    init = templates(job)["Master"]["spec"]["initContainers"][0]
    env = {e["name"]: e["value"] for e in init["env"]}
    assert env["GIT_SYNC_BRANCH"] == "dev" and env["GIT_SYNC_DEPTH"] == "1" and env["NCCL_DEBUG"] == "INFO"
    assert env["GIT_SYNC_ROOT"] == "/elsewhere"  # the user's value replaces Arena's, in place
    assert [e["name"] for e in init["env"]][:4] == ["GIT_SYNC_REPO", "GIT_SYNC_DEST", "GIT_SYNC_ROOT",
                                                    "GIT_SYNC_ONE_TIME"]


def test_git_sync_password_given_with_e_goes_through_the_secret_only() -> None:
    password = "hunter2-never-printed"
    job_spec = spec("pytorchjob", workers=2, sync_mode="git", sync_source="https://github.com/a/proj.git",
                    env=[f"GIT_SYNC_PASSWORD={password}", "GIT_SYNC_USERNAME=bob", "OTHER=1"])
    plan = planner.plan(job_spec, {})
    assert plan.credentials_secret == "up-sync-credentials"
    assert password not in plan.text("yaml") + plan.text("json")
    for tpl in templates(plan.manifests[0]).values():
        init = tpl["spec"]["initContainers"][0]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in init["env"] if "valueFrom" in e}
        assert refs["GIT_SYNC_PASSWORD"] == {"name": "up-sync-credentials", "key": "password"}
        assert refs["GIT_SYNC_USERNAME"] == {"name": "up-sync-credentials", "key": "username"}
        assert "GIT_SYNC_PASSWORD" not in env_of(tpl) and env_of(tpl)["OTHER"] == "1"
    # The -e value wins over the submitter's environment; both only ever reach the Secret.
    assert planner.credentials(job_spec, {"GIT_SYNC_PASSWORD": "env-one"}) == {"username": "bob", "password": password}
    rsync = spec("pytorchjob", sync_mode="rsync", sync_source="rsync://h/code/", env=["RSYNC_PASSWORD=pw"])
    assert planner.credentials(rsync, {}) == {"password": "pw"}
    assert "RSYNC_PASSWORD" not in json.dumps(render(rsync, sync_secret="s")).replace('"RSYNC_PASSWORD", "valueFrom"',
                                                                                       "")


# ---- --gang ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, opts, size", [("pytorchjob", {"workers": 3}, "3"),
                                              ("tfjob", {"workers": 2, "ps": 1, "chief": True}, "4"),
                                              ("mpijob", {"workers": 2}, "3"),
                                              ("appwrapperjob", {"workers": 2}, "2")])
def test_gang_renders_the_coscheduling_labels(validator: Validator, kind: str, opts: dict, size: str) -> None:
    manifests = render(spec(kind, gang=True, **opts))
    for tpl in pods(manifests[0]).values():
        labels = tpl["metadata"]["labels"]
        assert labels["pod-group.scheduling.sigs.k8s.io/name"] == f"{kind}-up"
        assert labels["pod-group.scheduling.sigs.k8s.io/min-available"] == size
    assert "pod-group.scheduling.sigs.k8s.io/name" not in manifests[0]["metadata"]["labels"]  # pods only
    validator.assert_valid(manifests)
    plain = render(spec(kind, **opts))[0]
    assert all("pod-group.scheduling.sigs.k8s.io/name" not in t["metadata"]["labels"] for t in pods(plain).values())


# ---- TFJob -----------------------------------------------------------------------------------
def test_tf_workers_restart_on_failure_beside_a_chief(validator: Validator) -> None:
    job = render(spec("tfjob", workers=2, chief=True))[0]
    policies = {role: rs["restartPolicy"] for role, rs in job["spec"]["tfReplicaSpecs"].items()}
    assert policies == {"Chief": "Never", "Worker": "OnFailure"}
    without = render(spec("tfjob", workers=2, ps=1))[0]
    assert {r: rs["restartPolicy"] for r, rs in without["spec"]["tfReplicaSpecs"].items()} == {"PS": "Never",
                                                                                                "Worker": "Never"}
    validator.assert_valid([job, without])


def test_tf_per_role_limits_selectors_and_role_sequence(validator: Validator) -> None:
    job_spec = spec("tfjob", workers=2, ps=1, chief=True, evaluator=True, selector=["pool=any"],
                    worker_cpu="2", worker_cpu_limit="4", worker_memory="2Gi", worker_memory_limit="8Gi",
                    ps_cpu_limit="1", chief_memory_limit="1Gi", evaluator_cpu_limit="500m",
                    worker_selector=["pool=gpu"], ps_selector=["pool=cpu"], role_sequence="w,p,c,e")
    job = render(job_spec)[0]
    tpls = templates(job)
    worker = main_container(tpls["Worker"])["resources"]
    assert worker == {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}
    assert main_container(tpls["PS"])["resources"] == {"limits": {"cpu": "1"}}
    assert main_container(tpls["Chief"])["resources"]["limits"] == {"memory": "1Gi"}
    assert main_container(tpls["Evaluator"])["resources"]["limits"] == {"cpu": "500m"}
    assert tpls["Worker"]["spec"]["nodeSelector"] == {"pool": "gpu"}  # the role's, in place of --selector
    assert tpls["PS"]["spec"]["nodeSelector"] == {"pool": "cpu"}
    assert tpls["Chief"]["spec"]["nodeSelector"] == {"pool": "any"}
    assert job["metadata"]["annotations"]["job-role-sequence"] == "Worker,PS,Chief,Evaluator"
    validator.assert_valid([job])
    # Not given: the arena config's tfjob_role_sequence (upstream's fallback).
    plan = planner.plan(spec("tfjob", workers=2), {}, config={"tfjob_role_sequence": "p, w"})
    assert plan.manifests[0]["metadata"]["annotations"]["job-role-sequence"] == "PS,Worker"


@pytest.mark.parametrize("policy, constraint, field, weights", [
    ("spread", "preferred", "podAntiAffinity", [100]),
    ("spread", "required", "podAntiAffinity", None),
    ("binpack", "preferred", "podAffinity", [100, 60, 30]),
    ("binpack", "required", "podAffinity", None),
])
def test_tf_affinity_policies(validator: Validator, policy: str, constraint: str, field: str,
                              weights: list[int] | None) -> None:
    job = render(spec("tfjob", workers=3, ps=2, worker_affinity_policy=policy, worker_affinity_constraint=constraint,
                      ps_affinity_policy=policy))[0]
    tpls = templates(job)
    rule = tpls["Worker"]["spec"]["affinity"][field]
    if weights is None:
        (term,) = rule["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["labelSelector"]["matchLabels"] == {"training.kubeflow.org/job-name": "up",
                                                        "training.kubeflow.org/replica-type": "worker"}
        assert term["topologyKey"] == "kubernetes.io/hostname"
    else:
        terms = rule["preferredDuringSchedulingIgnoredDuringExecution"]
        assert [t["weight"] for t in terms] == weights
        # the Training Operator's labels, which its pods carry (upstream's chart names the old tf-operator's)
        assert terms[0]["podAffinityTerm"]["labelSelector"]["matchLabels"]["training.kubeflow.org/job-name"] == "up"
    assert field in tpls["PS"]["spec"]["affinity"]
    validator.assert_valid([job])
    assert "affinity" not in templates(render(spec("tfjob", workers=3, ps=2))[0])["Worker"]["spec"]


def test_tf_affinity_constraint_needs_a_policy() -> None:
    with pytest.raises(InvalidSpec, match="needs --worker-affinity-policy spread or binpack") as err:
        spec("tfjob", workers=2, worker_affinity_constraint="required")
    assert err.value.field == "--worker-affinity-constraint"


# ---- PyTorchJob -------------------------------------------------------------------------------
def test_nproc_per_node_is_torchruns_env_only(validator: Validator) -> None:
    """spec.nprocPerNode would make the operator set WORLD_SIZE = pods × nproc; upstream passes the env only."""
    job = render(spec("pytorchjob", workers=2, nproc_per_node="4"))[0]
    assert "nprocPerNode" not in job["spec"]
    assert all(env_of(t)["PET_NPROC_PER_NODE"] == "4" for t in templates(job).values())
    validator.assert_valid([job])


# ---- pod-level switches -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["pytorchjob", "tfjob", "mpijob", "volcanojob", "appwrapperjob"])
def test_rdma_and_host_namespaces(validator: Validator, kind: str) -> None:
    manifests = render(spec(kind, rdma=True, host_network=True, host_ipc=True, host_pid=True))
    for tpl in pods(manifests[0]).values():
        pod_spec, c = tpl["spec"], main_container(tpl)
        assert (pod_spec["hostNetwork"], pod_spec["dnsPolicy"]) == (True, "ClusterFirstWithHostNet")
        assert pod_spec["hostIPC"] is True and pod_spec["hostPID"] is True
        assert c["resources"]["limits"]["rdma/hca"] == 1 and c["resources"]["requests"]["rdma/hca"] == 1
        assert c["securityContext"] == {"capabilities": {"add": ["IPC_LOCK"]}}
    validator.assert_valid(manifests)
    eni = render(spec("pytorchjob", host_network=True, annotation=["k8s.aliyun.com/eni=true"]))[0]
    assert "hostNetwork" not in templates(eni)["Master"]["spec"]  # an ENI pod has its own interface
    master = templates(render(spec("pytorchjob", workers=2, rdma=True))[0])["Master"]
    assert env_of(master)["MASTER_ADDR"] == "up-master-0"  # upstream's pytorchjob sets it with --rdma


def test_config_files_become_configmaps_mounted_file_by_file(validator: Validator) -> None:
    job_spec = spec("pytorchjob", workers=2, config_file=["/host/a.yaml:/etc/app/a.yaml", "/host/b.cnf:/etc/app/b.cnf",
                                                          "/host/c.ini:/opt/c.ini"])
    files = {"/host/a.yaml": "a: 1\n", "/host/b.cnf": "[b]\n", "/host/c.ini": "c=1\n"}
    manifests = render(job_spec, files=files)
    maps = [m for m in manifests if m["kind"] == "ConfigMap"]
    key = hashlib.md5(b"/etc/app").hexdigest()[:15]  # upstream's <job>-<md5(container dir)[:15]>
    assert [m["metadata"]["name"] for m in maps] == [f"up-{key}", f"up-{hashlib.md5(b'/opt').hexdigest()[:15]}"]
    assert maps[0]["data"] == {"a.yaml": "a: 1\n", "b.cnf": "[b]\n"}
    assert maps[0]["metadata"]["ownerReferences"][0]["kind"] == "PyTorchJob"
    master = templates(manifests[0])["Master"]
    assert {"name": key, "configMap": {"name": f"up-{key}"}} in master["spec"]["volumes"]
    assert {"name": key, "mountPath": "/etc/app/a.yaml", "subPath": "a.yaml"} in main_container(master)["volumeMounts"]
    validator.assert_valid(manifests)
    with pytest.raises(InvalidSpec, match="cannot read /no/such/file") as err:
        planner.plan(spec("pytorchjob", config_file=["/no/such/file"]), {})
    assert err.value.field == "--config-file"


def test_kube_queue_switch() -> None:
    """Upstream's bool --queue (kube-queue): the job is created suspended until kube-queue admits it."""
    job = render(spec("tfjob", queue="true"))[0]
    assert job["metadata"]["annotations"]["scheduling.x-k8s.io/suspend"] == "true"
    assert spec("tfjob", queue="research").scheduling.queue == "research"


# ---- volcanojob --------------------------------------------------------------------------------
def test_volcanojob_with_only_a_name_is_upstreams_default(validator: Validator) -> None:
    job_spec = kinds.get("volcanojob").spec_from_options({"name": "vj"})
    job = render(job_spec)[0]
    tasks = job["spec"]["tasks"]
    assert [(t["name"], t["replicas"]) for t in tasks] == [("task-0", 1), ("task-1", 1), ("task-2", 1)]
    containers = [t["template"]["spec"]["containers"][0] for t in tasks]
    assert [c["image"] for c in containers] == ["ubuntu", "nginx", "busybox"]
    assert all("command" not in c for c in containers)  # each image's entrypoint
    assert all(c["resources"] == {"limits": {"cpu": "250m", "memory": "128Mi"},
                                  "requests": {"cpu": "250m", "memory": "128Mi"}} for c in containers)
    assert all(c["ports"][0]["containerPort"] == 2222 for c in containers)
    assert tasks[0]["template"]["metadata"]["labels"]["volcano-role"] == "driver"
    assert (job["spec"]["queue"], job["spec"]["schedulerName"]) == ("default", "volcano")
    validator.assert_valid([job])


def test_volcanojob_task_images_and_sizes(validator: Validator) -> None:
    job_spec = kinds.get("volcanojob").spec_from_options(
        {"name": "vj", "task_images": ["alpine,busybox"], "task_name": "t", "task_replicas": 2, "task_cpu": "1",
         "task_memory": "1Gi", "task_port": 3000, "command": "echo hi"})
    job = render(job_spec)[0]
    assert [(t["name"], t["replicas"]) for t in job["spec"]["tasks"]] == [("t-0", 2), ("t-1", 2)]
    c = job["spec"]["tasks"][1]["template"]["spec"]["containers"][0]
    assert (c["image"], c["command"], c["ports"][0]["containerPort"]) == ("busybox", ["sh", "-c", "echo hi"], 3000)
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    validator.assert_valid([job])
    with pytest.raises(InvalidSpec) as err:
        kinds.get("volcanojob").spec_from_options({"name": "vj", "task": ["a:1=x"], "task_images": ["alpine"]})
    assert err.value.field == "--task-images"


# ---- MPIJob ----------------------------------------------------------------------------------
V1ALPHA1_SPEC = {"backoffLimit", "cleanPodPolicy", "gpus", "launcherOnMaster", "launcherResources",
                 "mountsOnLauncher", "replicas", "template"}  # Aliyun's v1alpha1 CRD (arena-artifacts)


def test_mpijob_v1alpha1_is_upstreams_chart(validator: Validator) -> None:
    job_spec = spec("mpijob", workers=3, gpus=2, cpu="4", retry=2, mpi_api_version="v1alpha1",
                    mounts_on_launcher=True, data=["vol:/data"])
    (job, record_less) = render(job_spec)[0], render(job_spec)[1:]
    assert record_less == []
    assert job["apiVersion"] == "kubeflow.org/v1alpha1"
    body = job["spec"]
    assert set(body) <= V1ALPHA1_SPEC
    assert (body["replicas"], body["backoffLimit"], body["cleanPodPolicy"], body["mountsOnLauncher"]) == (3, 2, "All",
                                                                                                           True)
    tpl = body["template"]
    c = main_container(tpl)
    assert c["command"] == ["sh", "-c", CMD] and c["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert tpl["spec"]["restartPolicy"] == "Never" and SHM in tpl["spec"]["volumes"]
    # The CRD is not among the shared schemas: the template is checked as a core PodTemplate.
    validator.assert_valid([{"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "up"},
                             "template": copy.deepcopy(tpl)}])
    with pytest.raises(InvalidSpec) as err:
        render(spec("mpijob", mpi_api_version="v1alpha1", running_timeout="1h"))
    assert err.value.field == "--running-timeout"


def test_mpijob_gputopology(validator: Validator) -> None:
    manifests = render(spec("mpijob", workers=2, gpus=1, gputopology=True))
    for tpl in templates(manifests[0]).values():
        assert tpl["metadata"]["labels"]["gpu-topology"] == "up"
        assert tpl["metadata"]["labels"]["gpu-topology-replica"] == "2"
        assert tpl["spec"]["hostNetwork"] is True and "volumes" not in tpl["spec"]  # no /dev/shm
    worker = main_container(templates(manifests[0])["Worker"])
    assert worker["resources"]["limits"] == {"aliyun.com/gpu": 1}
    validator.assert_valid(manifests)


@pytest.mark.parametrize("api, selector", [
    ("v1", {"training.kubeflow.org/job-name": "up", "training.kubeflow.org/replica-type": "launcher"}),
    ("v2beta1", {"training.kubeflow.org/job-name": "up", "training.kubeflow.org/job-role": "launcher"}),
    ("v1alpha1", {"mpi_job_name": "up", "mpi_role_type": "launcher"}),
])
def test_mpi_tensorboard_affinity_selects_the_launcher_pod(api: str, selector: dict[str, str]) -> None:
    """The launcher is one pod, not a replica set: the Training Operator labels its type but gives it no
    replica index, so a selector asking for index 0 matched no pod and TensorBoard never scheduled."""
    manifests = render(spec("mpijob", workers=2, mpi_api_version=api, tensorboard=True, logdir="/logs"))
    deploy = next(m for m in manifests if m["kind"] == "Deployment")
    term = deploy["spec"]["template"]["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"] == selector


# ---- upstream's record of the job and its owner ---------------------------------------------
def test_plan_ends_with_upstreams_record_of_the_job(validator: Validator) -> None:
    job_spec = spec("pytorchjob", workers=2, tensorboard=True)
    user = (hashlib.md5(b"kubecfg:certauth:admin").hexdigest(), "kubecfg:certauth:admin")
    plan = planner.plan(job_spec, {}, owner=user)
    job, *aux, record = plan.manifests
    assert record["metadata"]["name"] == record_name("up", "pytorchjob") == "up-pytorchjob"
    assert record["metadata"]["labels"] == {"createdBy": "arena", "arena.kubeflow.org/uid": user[0]}
    assert record["data"]["app"].splitlines() == ["pytorchjob.kubeflow.org/up", "deployment.apps/up-tensorboard",
                                                  "service/up-tensorboard"]
    assert record["metadata"]["ownerReferences"][0]["kind"] == "PyTorchJob"
    assert job["metadata"]["labels"]["arena.kubeflow.org/uid"] == user[0]
    assert job["metadata"]["annotations"]["arena.kubeflow.org/username"] == "kubecfg:certauth:admin"
    validator.assert_valid(plan.manifests)
    assert list(yaml.safe_load_all(plan.text("yaml")))[-1] == record  # --dry-run prints it, as upstream's kubectl
    assert kubectl_name({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}) == "service/s"
