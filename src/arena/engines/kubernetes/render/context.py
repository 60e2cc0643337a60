"""What every renderer needs besides the spec: who submits, which helper images, which labels.

Render is pure: everything that would otherwise come from the cluster or the environment (the
user id, the name of a credentials Secret, image choices) is passed in here explicitly.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from arena import kinds
from arena.engines.kubernetes.labels import (ANNOTATION_REQUESTED_GPUS, ANNOTATION_USERNAME, LABEL_APP,
                                            LABEL_CREATED_BY, LABEL_KUEUE_QUEUE, LABEL_POD_GROUP,
                                            LABEL_POD_GROUP_MIN, LABEL_RELEASE, LABEL_UID)
from arena.engines.kubernetes.render import checks
from arena.errors import InvalidSpec
from arena.spec.job import JobSpec
from arena.spec.names import check_label_value

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DEFAULT_PULL_POLICY = "Always"  # upstream's --image-pull-policy default
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TOPOLOGY_RESOURCE = "aliyun.com/gpu"


class Images(msgspec.Struct, frozen=True, kw_only=True):
    """Helper images; the cluster admin may mirror them, so they are overridable."""

    git_sync: str = "registry.k8s.io/git-sync/git-sync:v3.6.9"
    rsync: str = "instrumentisto/rsync-ssh:latest"
    tensorboard: str = "tensorflow/tensorflow:2.16.1"


class RenderOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Inputs that are not part of the job itself.

    sync_secret names a Secret (created by the engine at apply time, never rendered) holding
    `username`/`password` for git or `password` for rsync; None means an anonymous source.
    pull_secrets: the arena config's `imagePullSecrets`, used when the job names none (upstream's rule).
    files: host path -> content of the job's `--config-file`s, read by the planner (render reads no file).
    role_sequence: the arena config's `tfjob_role_sequence`, used when a TFJob names none.
    """

    user_id: str | None = None
    user_name: str | None = None
    sync_secret: str | None = None
    images: Images = msgspec.field(default_factory=Images)
    pull_secrets: tuple[str, ...] = ()
    files: dict[str, str] = {}
    role_sequence: str | None = None


class Ctx(msgspec.Struct, frozen=True, kw_only=True):
    """One render pass: the spec, the options and the label identity of the job.

    `app` and `created_by` follow the spec kind (`created_by` as the kind declares it,
    `Kind.k8s_created_by`), so the PyTorchJob or Volcano Job inside an AppWrapper is labelled like
    its AppWrapper, as the fork does (its list/get find pods by app).
    """

    spec: JobSpec
    opts: RenderOptions
    app: str
    created_by: str
    upstream_env: bool = True  # the `workers`/`gpus` env of upstream's common flags
    # MPI's --gputopology (Aliyun's topology-aware GPU scheduler): GPUs as aliyun.com/gpu, the host network,
    # no /dev/shm, as upstream's mpijob chart renders it.
    gpu_topology: bool = False

    @classmethod
    def of(cls, spec: JobSpec, opts: RenderOptions, *, upstream_env: bool = True, gpu_topology: bool = False) -> Ctx:
        if opts.user_id is not None:
            check_label_value(opts.user_id, "user_id")
        return cls(spec=spec, opts=opts, app=spec.kind, created_by=kinds.get(spec.kind).k8s_created_by,
                   upstream_env=upstream_env, gpu_topology=gpu_topology)

    @property
    def gpu_resource(self) -> str:
        return GPU_TOPOLOGY_RESOURCE if self.gpu_topology else GPU_RESOURCE

    @property
    def host_network(self) -> bool:
        """The host network that --gputopology implies (--hostNetwork is the spec's)."""
        return self.gpu_topology

    @property
    def no_shm(self) -> bool:
        return self.gpu_topology

    @property
    def name(self) -> str:
        return self.spec.name

    def labels(self) -> dict[str, str]:
        """Job and pod labels: Arena's identity first, then the user's (which may not clash)."""
        ours = {LABEL_APP: self.app, LABEL_RELEASE: self.name, LABEL_CREATED_BY: self.created_by}
        if self.opts.user_id:
            ours[LABEL_UID] = self.opts.user_id
        for key, value in self.spec.labels.items():
            if key in ours and ours[key] != value:
                raise InvalidSpec("--label", f"{key!r} is set by arena and cannot be overridden")
        return {**ours, **{k: v for k, v in self.spec.labels.items() if k not in ours}}

    def kueue_labels(self) -> dict[str, str]:
        """Kueue's queue label for `--kueue-queue`, or none: the label is what makes Kueue admit the object,
        so every kind that Kueue may admit sets it the same way, with the name checked as a LocalQueue's."""
        queue = self.spec.scheduling.kueue_queue
        return {LABEL_KUEUE_QUEUE: checks.dns1123(queue, "--kueue-queue", "queue name")} if queue else {}

    def pull_policy(self) -> dict[str, str]:
        """`--image-pull-policy` as the container field; upstream's `Always` when the job sets none.

        Upstream's charts write it on the job's containers and on the code-sync init container, so both
        call this; TensorBoard keeps its own (upstream's separate `tensorboardImagePullpolicy`, Always).
        """
        policy = self.spec.image_pull_policy or DEFAULT_PULL_POLICY
        if policy not in PULL_POLICIES:
            raise InvalidSpec("--image-pull-policy", f"{policy!r} must be one of {', '.join(PULL_POLICIES)}")
        return {"imagePullPolicy": policy}

    def pull_secrets(self) -> list[dict[str, str]]:
        """`imagePullSecrets` of every pod: the job's `--image-pull-secret`s, else the arena config's."""
        names = self.spec.image_pull_secrets or list(self.opts.pull_secrets)
        return [{"name": name} for name in dict.fromkeys(names)]

    @property
    def share_memory(self) -> str | None:
        """The /dev/shm size: the job's `--share-memory`, else the kind's default (upstream's 2Gi); "0": none."""
        size = self.spec.share_memory or kinds.get(self.spec.kind).k8s_share_memory
        return None if size in (None, "", "0") else size

    def gang_labels(self) -> dict[str, str]:
        """`--gang` as upstream renders it: the coscheduling plugin's pod-group labels on every pod (the group
        `<kind>-<name>` of every replica, or of --min-available), next to the operators' own gang policy."""
        sched = self.spec.scheduling
        if not sched.gang:
            return {}
        size = sched.min_available or self.spec.total_replicas
        return {LABEL_POD_GROUP: f"{self.spec.kind}-{self.name}", LABEL_POD_GROUP_MIN: str(size)}

    def annotations(self) -> dict[str, str]:
        """Job and pod annotations: the user's, plus the submitter and GPU request upstream reads."""
        out = dict(self.spec.annotations)
        if self.opts.user_name:
            out[ANNOTATION_USERNAME] = self.opts.user_name
        out[ANNOTATION_REQUESTED_GPUS] = str(self.spec.requested_gpus)
        return out

    def metadata(self, annotations: Mapping[str, str] | None = None, *, namespaced: bool = True) -> dict[str, Any]:
        """Metadata of the job object; `namespaced=False` for objects embedded in an AppWrapper."""
        out: dict[str, Any] = {"name": self.name}
        if namespaced:
            out["namespace"] = self.spec.namespace
        out["labels"] = self.labels()
        ann = {**self.annotations(), **(annotations or {})}
        if ann:
            out["annotations"] = ann
        return out
