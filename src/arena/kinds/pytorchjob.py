"""PyTorchJob: 1 master + (workers - 1) workers, torchrun's env contract."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from arena.kinds.base import Kind
from arena.kinds.flags import COMMAND, JOB, RESOURCES, RUN_POLICY, SUBMIT, Flag, Set, nproc, port, positive, workers

if TYPE_CHECKING:  # kubernetes hook types: annotations only
    from arena.engines.kubernetes.pods import Rule
    from arena.engines.kubernetes.render.context import RenderOptions
    from arena.engines.kubernetes.status import StatusMapping
    from arena.spec.job import JobSpec

if TYPE_CHECKING:  # local engine hook types
    from arena.engines.local.controllers.base import Controller
    from arena.engines.local.plan import Rendezvous

if TYPE_CHECKING:  # flags and spec hook types
    from arena.spec.draft import Draft
    from arena.spec.job import KindOptions, PyTorchOptions, TaskSpec
    from arena.spec.jobfile import JobFile


# ---- flags and spec: the flags only this kind takes (listed with the shared sets in the class) -------------

def _workers(draft: Draft, n: int) -> None:
    """--workers counts the master, as upstream: Master 1 + Worker (n - 1)."""
    draft.set_replicas("worker", n - 1)


WORKERS = workers(_workers, positive, help="number of workers, the master included")
NPROC_PER_NODE = Flag("--nproc-per-node", "nproc_per_node", "processes per node for torchrun: auto|cpu|gpu|N",
                      to=Set("options.nproc_per_node"), check=nproc, example="2")
MASTER_PORT = Flag("--master-port", "master_port", "MASTER_PORT (default: a free port)", type=int,
                   to=Set("options.master_port"), check=port, example=29500)


def master_and_workers(kind: str, tasks: list[TaskSpec], key: str) -> tuple[list[TaskSpec], int]:
    """The Master/Worker roles (a PyTorchJob's, and an AppWrapper's around one): master first; `workers`
    counts every replica, the master included."""
    from arena.errors import InvalidSpec
    from arena.spec.common import check_roles

    check_roles(kind, tasks, key, PyTorchJob.roles, PyTorchJob.single_roles)
    if not any(t.name == "master" for t in tasks):
        raise InvalidSpec(key, f"a {kind} needs a master role (replicas: 1)")
    tasks = sorted(tasks, key=lambda t: t.name != "master")
    return tasks, sum(t.replicas for t in tasks)


class PyTorchJob(Kind):
    # ---- identity ------------------------------------------------------------------------------
    name = "pytorchjob"
    aliases = ('pytorch', 'py')

    # ---- flags and spec ------------------------------------------------------------------------
    flags = (*JOB, *COMMAND, *RESOURCES, WORKERS, *SUBMIT, NPROC_PER_NODE, MASTER_PORT, *RUN_POLICY)
    roles = ("master", "worker")
    single_roles = ("master",)

    @property
    def options_type(self) -> type[PyTorchOptions]:
        from arena.spec.job import PyTorchOptions

        return PyTorchOptions

    def base_document(self, opts: Mapping[str, Any]) -> dict[str, Any]:
        return {"kind": self.name, "tasks": [{"name": "master"}]}

    def default_restart(self, role: str, options: KindOptions) -> str:
        """Workers restart OnFailure (the operator's and upstream chart's default); the master never."""
        return "OnFailure" if role == "worker" else "Never"

    def check_options(self, options: KindOptions, field: Callable[[str], str]) -> KindOptions:
        from arena.spec.common import check_port
        from arena.spec.pytorchjob import check_nproc

        check_nproc(options.nproc_per_node, field("nproc_per_node"))  # type: ignore[union-attr]
        check_port(options.master_port, field("master_port"))  # type: ignore[union-attr]
        return options

    def shape(self, tasks: list[TaskSpec], options: KindOptions, job: JobFile, key: str
              ) -> tuple[list[TaskSpec], KindOptions, int]:
        """Master first; --master-port is the master's port unless its task sets one."""
        import msgspec

        tasks, workers_ = master_and_workers(self.name, tasks, key)
        port_ = options.master_port  # type: ignore[union-attr]
        if port_ and not tasks[0].port:
            tasks = [msgspec.structs.replace(tasks[0], port=port_), *tasks[1:]]
        return tasks, options, workers_

    # ---- local engine --------------------------------------------------------------------------
    def local_env(self, spec: JobSpec, task: str, index: int, net: Rendezvous) -> dict[str, str]:
        """The Training Operator's env: MASTER_ADDR/PORT of master-0, WORLD_SIZE, RANK (torchrun's PET_*)."""
        from arena.distributed import torch_env

        return torch_env.env(spec, task, index, net.host, net.port("master-0"))

    # ---- kubernetes ----------------------------------------------------------------------------
    k8s_created_by = "PyTorchJob"
    k8s_resources = ("pytorchjobs",)

    def k8s_render(self, spec: JobSpec, opts: RenderOptions) -> list[dict[str, Any]]:
        """A kubeflow.org/v1 PyTorchJob (Master + Workers), then its TensorBoard."""
        from arena.engines.kubernetes.render import pytorchjob, tensorboard
        from arena.engines.kubernetes.render.context import Ctx
        from arena.spec.job import PyTorchOptions

        ctx = Ctx.of(spec, opts)
        options = spec.options_as(PyTorchOptions)
        primary = pytorchjob.job(ctx, nproc_per_node=options.nproc_per_node,
                                 port=pytorchjob.master_port(spec, options.master_port), rdma_master=True)
        return [primary, *tensorboard.objects(ctx, primary, pytorchjob.chief_selector(ctx))]

    def k8s_status(self) -> StatusMapping:
        from arena.engines.kubernetes.status import KUBEFLOW

        return KUBEFLOW

    def k8s_chief_rules(self) -> tuple[Rule, ...]:
        """The master, else worker 0 (a job without a master)."""
        from arena.engines.kubernetes.pods import is_role

        return (is_role("master"), is_role("worker", 0))


KIND = PyTorchJob()
