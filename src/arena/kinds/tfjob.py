"""TFJob: chief / ps / worker / evaluator with TF_CONFIG as the Training Operator writes it."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arena.kinds.base import Kind
from arena.kinds.flags import (
    COMMAND,
    JOB,
    RESOURCES,
    SUBMIT,
    Apply,
    Flag,
    Need,
    OnRoles,
    Set,
    cpu,
    gpus,
    has_role,
    memory,
    non_negative,
    one_of,
    pairs,
    port,
    run_policy,
    seconds,
    workers,
)

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
    from arena.spec.job import KindOptions, TaskSpec, TFOptions
    from arena.spec.jobfile import JobFile


# ---- flags and spec: the flags only this kind takes (listed with the shared sets in the class) -------------

# The Training Operator evaluates roles in this order; tasks are kept in it too.
ROLES = ("chief", "ps", "worker", "evaluator")
_HAS = {"worker": has_role("worker", "--workers N", {"workers": 1}), "ps": has_role("ps", "--ps N", {"ps": 1}),
        "chief": has_role("chief", "--chief", {"chief": True}),
        "evaluator": has_role("evaluator", "--evaluator", {"evaluator": True})}


def _replicas(role: str) -> Apply:
    return Apply(lambda draft, n: draft.set_replicas(role, n), ("tasks", f"tasks[{role}].replicas"))


def _add(role: str) -> Apply:
    return Apply(lambda draft, on: draft.add_role(role), ("tasks",))


def _selector(role: str) -> Apply:
    """--<role>-selector k=v: that role's node selector, in place of --selector (upstream's rule)."""
    def apply(draft: Draft, items: list[str]) -> None:
        task = draft.task(role)
        if task is not None:
            draft.merge_pairs_into(task, "node_selector", items)

    return Apply(apply, (f"tasks[{role}].node_selector",))


# Upstream's deprecated camelCase spellings (the chief's are capitalized: --ChiefCpu).
_CAMEL = {"worker": "worker", "ps": "ps", "chief": "Chief", "evaluator": "evaluator"}
ROLE_NAMES = {"w": "Worker", "worker": "Worker", "p": "PS", "ps": "PS", "c": "Chief", "chief": "Chief",
              "e": "Evaluator", "evaluator": "Evaluator"}


def role_sequence(value: str, field: str) -> str:
    """`w,p,c,e` or `Worker,PS,...` (upstream's --role-sequence) as the annotation's `Worker,PS,Chief,Evaluator`."""
    from arena.errors import InvalidSpec

    out = []
    for item in str(value).split(","):
        name = ROLE_NAMES.get(item.strip().lower())
        if name is None:
            raise InvalidSpec(field, f"unknown role {item.strip()!r}; one of Worker(w), PS(p), Evaluator(e), Chief(c)")
        out.append(name)
    return ",".join(out)


def _affinity(role: str) -> tuple[Flag, Flag]:
    """--<role>-affinity-policy and -constraint: how the role's pods spread over (or pack onto) nodes."""
    policy = Flag(f"--{role}-affinity-policy", f"{role}_affinity_policy", f"{role} pods: none, spread (one per "
                  "node) or binpack (together) (cluster)", to=Set(f"options.{role}_affinity_policy"),
                  check=one_of("none", "spread", "binpack"), default="none", needs=(_HAS[role],), example="spread")
    spread = Need(f"needs --{role}-affinity-policy spread or binpack",
                  lambda draft: draft.option(f"{role}_affinity_policy", "none") != "none",
                  {f"{role}_affinity_policy": "spread"})
    constraint = Flag(f"--{role}-affinity-constraint", f"{role}_affinity_constraint", "preferred or required: "
                      f"whether --{role}-affinity-policy may be broken when no node fits (cluster)",
                      to=Set(f"options.{role}_affinity_constraint"), check=one_of("preferred", "required"),
                      default="preferred", needs=(_HAS[role], spread), example="required")
    return policy, constraint


WORKERS = workers(lambda draft, n: draft.set_replicas("worker", n), non_negative)
ROLE_FLAGS: tuple[Flag, ...] = (
    Flag("--ps", "ps", "parameter servers", type=int, to=_replicas("ps"), check=non_negative, default=0, phase=0,
         example=1),
    Flag("--chief", "chief", "add a Chief replica", switch=True, to=_add("chief"), phase=0, example=True),
    Flag("--evaluator", "evaluator", "add an Evaluator replica", switch=True, to=_add("evaluator"), phase=0,
         example=True),
    # --worker-image and --gpus reach the chief and the evaluator too: they run the workers' program.
    Flag("--worker-image", "worker_image", "worker (and chief, evaluator) image (default: --image)",
         camel="--workerImage", to=OnRoles(("worker", "chief", "evaluator"), "image"), example="w:1"),
    Flag("--ps-image", "ps_image", "PS image (default: --image)", camel="--psImage", to=OnRoles(("ps",), "image"),
         needs=(_HAS["ps"],), example="p:1"),
    *(Flag(f"--{role}-cpu", f"{role}_cpu", f"{role} CPU (default: --cpu)", camel=f"--{_CAMEL[role]}Cpu",
           to=OnRoles((role,), "resources.cpu"), check=cpu, needs=(_HAS[role],), example="3")
      for role in ("worker", "ps", "chief", "evaluator")),
    *(Flag(f"--{role}-cpu-limit", f"{role}_cpu_limit", f"{role} CPU limit above its request (cluster; "
           "default: the request)", to=OnRoles((role,), "resources.cpu_limit"), check=cpu, needs=(_HAS[role],),
           example="4") for role in ("worker", "ps", "chief", "evaluator")),
    *(Flag(f"--{role}-memory", f"{role}_memory", f"{role} memory (default: --memory)",
           camel=f"--{_CAMEL[role]}Memory", to=OnRoles((role,), "resources.memory"), check=memory,
           needs=(_HAS[role],), example="3Gi") for role in ("worker", "ps", "chief", "evaluator")),
    *(Flag(f"--{role}-memory-limit", f"{role}_memory_limit", f"{role} memory limit above its request (cluster; "
           "default: the request)", to=OnRoles((role,), "resources.memory_limit"), check=memory,
           needs=(_HAS[role],), example="4Gi") for role in ("worker", "ps", "chief", "evaluator")),
    *(Flag(f"--{role}-selector", f"{role}_selector", f"node selector k=v of the {role} pods, in place of "
           "--selector (cluster; repeatable)", repeat=True, to=_selector(role), check=pairs, needs=(_HAS[role],),
           example=["pool=cpu"]) for role in ("worker", "ps", "chief", "evaluator")),
    Flag("--ps-gpus", "ps_gpus", "GPUs per PS", to=OnRoles(("ps",), "resources.gpus"), check=gpus, default=0,
         needs=(_HAS["ps"],), example="1"),
    *(Flag(f"--{role}-port", f"{role}_port", f"{role} port (default: a free port)", type=int,
           camel=f"--{role}Port" if role != "evaluator" else None, to=OnRoles((role,), "port"), check=port, needs=(_HAS[role],), example=2222)
      for role in ("worker", "ps", "chief", "evaluator")),
    *_affinity("worker"),
    *_affinity("ps"),
    Flag("--success-policy", "success_policy", "ChiefWorker|AllWorkers", to=Set("options.success_policy"),
         check=one_of("ChiefWorker", "AllWorkers"), default="ChiefWorker", example="AllWorkers"),
    Flag("--role-sequence", "role_sequence", "the order the operator starts the roles in, e.g. w,p,c,e or "
         "Worker,PS,Chief,Evaluator (cluster; default: tfjob_role_sequence of the arena config)",
         to=Set("options.role_sequence"), check=role_sequence, example="p,w"),
    Flag("--starting-timeout", "starting_timeout", "fail the job when it has not started this long after its "
         "creation, e.g. 10m", to=Set("options.starting_deadline_seconds"), check=seconds, example="10m"),
)


class TFJob(Kind):
    # ---- identity ------------------------------------------------------------------------------
    name = "tfjob"
    aliases = ('tf', 'tensorflow')

    # ---- flags and spec ------------------------------------------------------------------------
    flags = (*JOB, *COMMAND, *RESOURCES, WORKERS, *SUBMIT, *ROLE_FLAGS, *run_policy(camel="--cleanTaskPolicy"))
    roles = ROLES
    single_roles = ("chief", "evaluator")
    gpuless_roles = ("ps",)  # --ps-gpus sizes them

    @property
    def options_type(self) -> type[TFOptions]:
        from arena.spec.job import TFOptions

        return TFOptions

    def base_document(self, opts: Mapping[str, Any]) -> dict[str, Any]:
        return {"kind": self.name, "tasks": [{"name": "worker"}]}

    def shape(self, tasks: list[TaskSpec], options: KindOptions, job: JobFile, key: str
              ) -> tuple[list[TaskSpec], KindOptions, int]:
        """Roles in the operator's order; `workers` is the worker replicas; one worker alone is standalone
        (no TF_CONFIG, as upstream) unless the file says otherwise; beside a chief, workers restart OnFailure."""
        import msgspec

        from arena.errors import InvalidSpec
        from arena.spec.common import check_roles
        from arena.spec.tfjob import is_standalone

        check_roles(self.name, tasks, key, self.roles, self.single_roles)
        by_name = {t.name: t for t in tasks}
        if "worker" not in by_name and "chief" not in by_name:
            raise InvalidSpec(key, "a tfjob needs a worker or a chief role")
        workers_ = by_name["worker"].replicas if "worker" in by_name else 0
        if "chief" in by_name and "worker" in by_name:
            # With a chief, the chief decides the job: workers restart OnFailure (upstream's chart) unless set.
            defaulted = all(f.restart_policy is None for f in job.tasks if f.name == "worker")
            if defaulted:
                worker = msgspec.structs.replace(by_name["worker"], restart_policy="OnFailure")
                tasks = [worker if t.name == "worker" else t for t in tasks]
        if "standalone" not in job.options:
            ps = by_name["ps"].replicas if "ps" in by_name else 0
            options = msgspec.structs.replace(options, standalone=is_standalone(
                ps, workers_, "chief" in by_name, "evaluator" in by_name))
        return sorted(tasks, key=lambda t: self.roles.index(t.name)), options, workers_

    # ---- local engine --------------------------------------------------------------------------
    def local_env(self, spec: JobSpec, task: str, index: int, net: Rendezvous) -> dict[str, str]:
        """TF_CONFIG as the Training Operator writes it (none for a standalone job)."""
        from arena.distributed import tf_config

        return {"PYTHONUNBUFFERED": "1", **tf_config.env(spec, task, index, net.endpoints)}

    def local_controller(self, spec: JobSpec) -> Controller:
        """The Training Operator's rules; without a chief, success is worker 0's or every worker's."""
        from arena.engines.local.controllers.kubeflow import Kubeflow

        return Kubeflow(success=self._success_without_chief)

    @staticmethod
    def _success_without_chief(spec: JobSpec, replicas: list[Any]) -> Any:
        """No chief: worker 0 succeeding (ChiefWorker) or every worker (AllWorkers) succeeds the job."""
        from arena.engines.local.controllers.base import NOTHING, Outcome, master_task
        from arena.spec.job import TFOptions

        if master_task(spec) != "worker":
            return None  # the chief's (or master's) rule
        opts = spec.options_as(TFOptions)
        workers = [r for r in replicas if r.task == "worker"]
        if opts.success_policy == "AllWorkers":
            ok = all(r.state == "Succeeded" for r in workers)
            return Outcome("succeed", "all workers succeeded") if ok else NOTHING
        ok = any(r.state == "Succeeded" and r.index == 0 for r in workers)
        return Outcome("succeed", "worker 0 succeeded") if ok else NOTHING

    # ---- kubernetes ----------------------------------------------------------------------------
    k8s_created_by = "TFJob"
    k8s_resources = ("tfjobs",)

    def k8s_render(self, spec: JobSpec, opts: RenderOptions) -> list[dict[str, Any]]:
        """A kubeflow.org/v1 TFJob, then its TensorBoard."""
        from arena.engines.kubernetes.render import tensorboard, tfjob
        from arena.engines.kubernetes.render.context import Ctx

        ctx = Ctx.of(spec, opts)
        primary = tfjob.job(ctx)
        return [primary, *tensorboard.objects(ctx, primary, tfjob.chief_selector(ctx))]

    def k8s_status(self) -> StatusMapping:
        from arena.engines.kubernetes.status import KUBEFLOW

        return KUBEFLOW

    def k8s_chief_rules(self) -> tuple[Rule, ...]:
        """The chief, else the legacy master, else worker 0 (as the operator decides)."""
        from arena.engines.kubernetes.pods import is_role

        return (is_role("chief"), is_role("master"), is_role("worker", 0))


KIND = TFJob()
