"""What every kind shares: labels, volumes, code sync, TensorBoard, owner placeholders, output."""
from __future__ import annotations

import json

import msgspec
import pytest
import yaml
from k8s_specs import KINDS, env_of, main_container, pytorch, templates, volcano, with_common

from arena.engines.kubernetes.render import OWNER_UID, bind_owner, needs_owner, render, to_json, to_list, to_yaml
from arena.engines.kubernetes.render import sync, tensorboard
from arena.engines.kubernetes.render.context import Images
from arena.errors import InvalidSpec
from arena.spec.job import DataMount, SyncSpec, Tensorboard

CREATED_BY = {"pytorchjob": "PyTorchJob", "tfjob": "TFJob", "mpijob": "MPIJob", "volcanojob": "VolcanoJob",
              "appwrapperjob": "AppWrapperJob"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_upstream_labels_on_job_and_pods(kind: str) -> None:
    spec = with_common(KINDS[kind](), "everything")
    job = render(spec, user_id="u-42", user_name="alice")[0]
    expected = {"app": spec.kind, "release": spec.name, "createdBy": CREATED_BY[spec.kind],
                "arena.kubeflow.org/uid": "u-42", "team": "vision"}
    assert expected.items() <= job["metadata"]["labels"].items()
    assert job["metadata"]["annotations"]["example.com/owner"] == "alice"
    assert job["metadata"]["annotations"]["arena.kubeflow.org/username"] == "alice"
    assert job["metadata"]["annotations"]["requestGPUsOfJobOwner"] == str(spec.requested_gpus)
    for tpl in templates(job).values():
        assert expected.items() <= tpl["metadata"]["labels"].items()
        assert tpl["metadata"]["annotations"]["example.com/owner"] == "alice"


def test_no_user_id_no_uid_label() -> None:
    assert "arena.kubeflow.org/uid" not in render(pytorch())[0]["metadata"]["labels"]


def test_reserved_label_and_bad_user_id() -> None:
    with pytest.raises(InvalidSpec) as err:
        render(msgspec.structs.replace(pytorch(), labels={"release": "other"}))
    assert err.value.field == "--label"
    with pytest.raises(InvalidSpec):
        render(pytorch(), user_id="not a label value!")


def test_volumes_and_mounts() -> None:
    spec = with_common(pytorch(workers=1), "everything")
    tpl = templates(render(spec)[0])["Master"]
    vols = {v["name"]: v for v in tpl["spec"]["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in main_container(tpl)["volumeMounts"]}
    assert vols["training-data"] == {"name": "training-data", "persistentVolumeClaim": {"claimName": "training-data"}}
    assert vols["training-data-0"] == {"name": "training-data-0", "hostPath": {"path": "/mnt/cache"}}
    assert vols["dshm"] == {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}
    assert vols["code-sync"] == {"name": "code-sync", "emptyDir": {}}
    assert vols["training-logs-volume"]["hostPath"]["path"] == "/arena_logs/default/torch-job"
    assert mounts == {"code-sync": "/workspace/code", "training-data": "/data", "training-data-0": "/cache",
                      "training-logs-volume": "/training_logs", "dshm": "/dev/shm"}


def test_volume_name_clash_is_refused() -> None:
    spec = msgspec.structs.replace(pytorch(share_memory="1Gi"), data=[DataMount(name="dshm", path="/x")])
    with pytest.raises(InvalidSpec) as err:
        render(spec)
    assert err.value.field == "--data"


def test_default_working_dir_is_upstreams() -> None:
    spec = msgspec.structs.replace(pytorch(), working_dir="", sync=SyncSpec(mode="git", source="https://x/y.git"))
    c = main_container(templates(render(spec)[0])["Master"])
    assert c["workingDir"] == "/root"
    assert {"name": "code-sync", "mountPath": "/root/code"} in c["volumeMounts"]


# ---- code sync -----------------------------------------------------------------------------
def test_git_sync_reads_credentials_from_a_secret_only() -> None:
    spec = msgspec.structs.replace(pytorch(), sync=SyncSpec(mode="git", source="https://github.com/a/proj.git",
                                                            branch="dev"))
    job = render(spec, sync_secret="my-creds")[0]
    init = templates(job)["Master"]["spec"]["initContainers"][0]
    assert init["name"] == "init-code"
    assert init["image"] == Images().git_sync
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in init["env"]}
    assert env["GIT_SYNC_REPO"] == "https://github.com/a/proj.git"
    assert (env["GIT_SYNC_DEST"], env["GIT_SYNC_ROOT"], env["GIT_SYNC_ONE_TIME"], env["GIT_SYNC_BRANCH"]) == (
        "proj", "/code", "true", "dev")
    assert env["GIT_SYNC_USERNAME"] == {"secretKeyRef": {"name": "my-creds", "key": "username"}}
    assert env["GIT_SYNC_PASSWORD"] == {"secretKeyRef": {"name": "my-creds", "key": "password"}}
    assert init["volumeMounts"] == [{"name": "code-sync", "mountPath": "/code"}]


def test_anonymous_git_has_no_credentials() -> None:
    spec = msgspec.structs.replace(pytorch(), sync=SyncSpec(mode="git", source="https://github.com/a/proj"))
    init = templates(render(spec)[0])["Master"]["spec"]["initContainers"][0]
    assert not [e for e in init["env"] if "valueFrom" in e]


def test_rsync_variant() -> None:
    spec = msgspec.structs.replace(pytorch(), sync=SyncSpec(mode="rsync", source="rsync://10.0.0.1/code/"))
    init = templates(render(spec, sync_secret="rs")[0])["Master"]["spec"]["initContainers"][0]
    assert init["command"] == ["rsync", "-avP", "rsync://10.0.0.1/code/", "/code"]
    assert init["image"] == Images().rsync
    assert init["env"] == [{"name": "RSYNC_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "rs", "key": "password"}}}]


@pytest.mark.parametrize("source,name", [("https://github.com/kubeflow/arena.git", "arena"),
                                         ("git@github.com:kubeflow/arena.git", "arena"),
                                         ("https://host/group/repo/", "repo"), ("git@host:repo", "repo")])
def test_project_name(source: str, name: str) -> None:
    assert sync.project_name(source) == name


def test_credentials_secret_is_owned_and_kept_out_of_render() -> None:
    spec = msgspec.structs.replace(pytorch(), sync=SyncSpec(mode="git", source="https://x/y.git"))
    manifests = render(spec, sync_secret=sync.secret_name(spec))
    assert "hunter2" not in to_yaml(manifests) and all(m["kind"] != "Secret" for m in manifests)
    secret = sync.credentials_secret(spec, manifests[0], {"username": "bob", "password": "hunter2"})
    assert secret["metadata"]["name"] == "torch-job-sync-credentials"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == OWNER_UID


# ---- TensorBoard ---------------------------------------------------------------------------
def test_tensorboard_on_hostpath_is_pinned_to_the_chief_node() -> None:
    manifests = render(msgspec.structs.replace(pytorch(), tensorboard=Tensorboard(logdir="/logs")))
    job, deploy, svc = manifests
    pod = deploy["spec"]["template"]["spec"]
    term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"] == {"training.kubeflow.org/job-name": "torch-job",
                                                    "training.kubeflow.org/replica-type": "master",
                                                    "training.kubeflow.org/replica-index": "0"}
    assert pod["volumes"][0]["hostPath"]["path"] == tensorboard.host_path(pytorch()) == "/arena_logs/default/torch-job"
    assert pod["containers"][0]["command"] == ["tensorboard", "--logdir", "/logs", "--host", "0.0.0.0",
                                               "--port", "6006"]
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    assert deploy["metadata"]["labels"]["role"] == "tensorboard" == svc["metadata"]["labels"]["role"]


def test_tensorboard_on_pvc_and_remote() -> None:
    spec = with_common(pytorch(), "rsync-tensorboard-on-pvc")
    job, deploy, _ = render(spec)
    pod = deploy["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "logs", "persistentVolumeClaim": {"claimName": "logs", "readOnly": True}}]
    assert "affinity" not in pod
    assert pod["containers"][0]["image"] == "tensorflow/tensorflow:2.15.0"
    assert all(v["name"] != "training-logs-volume" for v in templates(job)["Master"]["spec"]["volumes"])
    _, deploy, _ = render(with_common(pytorch(), "remote-logs"))
    assert "volumes" not in deploy["spec"]["template"]["spec"]


@pytest.mark.parametrize("kind", ["tf-all-roles", "mpi-v2beta1", "volcano-one-task", "aw-volcano-svc"])
def test_tensorboard_chief_selector_per_kind(kind: str) -> None:
    spec = msgspec.structs.replace(KINDS[kind](), tensorboard=Tensorboard(logdir="/logs"))
    deploy = render(spec)[1]
    selector = deploy["spec"]["template"]["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]["matchLabels"]
    assert spec.name in selector.values()


# ---- owner placeholders --------------------------------------------------------------------
def test_primary_first_and_bind_owner() -> None:
    manifests = render(msgspec.structs.replace(pytorch(), tensorboard=Tensorboard()))
    assert manifests[0]["kind"] == "PyTorchJob" and not needs_owner(manifests[0])
    assert all(needs_owner(m) for m in manifests[1:])
    bound = bind_owner(manifests, "1234-abcd")
    assert not any(needs_owner(m) for m in bound)
    assert bound[1]["metadata"]["ownerReferences"] == [
        {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "torch-job", "uid": "1234-abcd"}]
    assert needs_owner(manifests[1])  # the input is left alone
    with pytest.raises(ValueError):
        bind_owner(manifests, "")


# ---- output --------------------------------------------------------------------------------
def test_yaml_and_json_round_trip() -> None:
    manifests = render(with_common(pytorch(), "everything"), user_id="u1")
    text = to_yaml(manifests)
    assert "&id" not in text and "*id" not in text  # no YAML anchors for shared label maps
    assert text.startswith("---\n")
    assert list(yaml.safe_load_all(text)) == manifests
    data = json.loads(to_json(manifests))
    assert data == to_list(manifests) == {"apiVersion": "v1", "kind": "List", "items": manifests}


def test_multiline_command_is_a_literal_block() -> None:
    spec = pytorch(command="set -e\npython train.py\n")
    text = to_yaml(render(spec))
    assert "- |" in text
    assert list(yaml.safe_load_all(text))[0] == render(spec)[0]


def test_unknown_kind() -> None:
    with pytest.raises(InvalidSpec) as err:
        render(msgspec.structs.replace(volcano(), kind="rayjob"))
    assert err.value.field == "--type"


def test_render_is_pure_and_deterministic() -> None:
    spec = with_common(KINDS["aw-volcano-headless"](), "everything")
    assert to_yaml(render(spec, user_id="u")) == to_yaml(render(spec, user_id="u"))


def test_images_override() -> None:
    spec = msgspec.structs.replace(pytorch(), sync=SyncSpec(mode="git", source="https://x/y.git"),
                                   tensorboard=Tensorboard())
    manifests = render(spec, images=Images(git_sync="mirror/git-sync:1", tensorboard="mirror/tb:1"))
    assert templates(manifests[0])["Master"]["spec"]["initContainers"][0]["image"] == "mirror/git-sync:1"
    assert manifests[1]["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror/tb:1"


def test_env_of_helper_sees_valuefrom() -> None:
    env = env_of(templates(render(KINDS["volcano-tf-config"]())[0])["ps"])
    assert isinstance(env["ARENA_TASK_INDEX"], dict)
