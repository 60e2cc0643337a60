"""`arena submit tfjob`: chief / ps / worker / evaluator roles, as upstream Arena's tfjob flags build them.

Opts read (argparse dest names): the common ones (see `spec.common.common_fields`) plus `workers`, `ps`,
`chief`, `evaluator`, `worker_image`, `ps_image`, `{worker,ps,chief,evaluator}_{cpu,memory}` (each falling
back to `cpu`/`memory`), `gpus` (workers, chief and evaluator), `ps_gpus`, `device`,
`{worker,ps,chief,evaluator}_port`, `success_policy`, `retry`, `clean_task_policy`, `running_timeout`,
`ttl_after_finished`, `command`.
"""
from __future__ import annotations

from typing import Any

from arena.errors import InvalidSpec
from arena.spec.common import check_port, command_text, common_fields, non_negative, resources, run_policy
from arena.spec.job import JobSpec, Resources, TaskSpec, TFOptions

SUCCESS_POLICIES = ("ChiefWorker", "AllWorkers")
# The Training Operator evaluates roles in this order; we keep it for the task list too.
ROLES = ("chief", "ps", "worker", "evaluator")


def check_success_policy(value: str | None, field: str = "--success-policy") -> str:
    """Upstream writes ChiefWorker as ""; both spellings mean the default."""
    policy = value or "ChiefWorker"
    if policy not in SUCCESS_POLICIES:
        raise InvalidSpec(field, f"{value!r} must be ChiefWorker or AllWorkers")
    return policy


def is_standalone(ps: int, workers: int, chief: bool, evaluator: bool) -> bool:
    """One worker and nothing else: upstream disables TF_CONFIG (annotation disable-tf-config)."""
    return ps < 1 and workers == 1 and not chief and not evaluator


def _role_resources(opts: dict[str, Any], role: str, gpus: int, devices: tuple[str, ...]) -> Resources:
    """Per-role --ROLE-cpu/--ROLE-memory, else the job-wide --cpu/--memory; errors name the flag used."""
    cpu_key = f"{role}_cpu" if opts.get(f"{role}_cpu") else "cpu"
    mem_key = f"{role}_memory" if opts.get(f"{role}_memory") else "memory"
    resources(cpu=opts.get(cpu_key), prefix=cpu_key[:-3].replace("_", "-"))
    resources(memory=opts.get(mem_key), prefix=mem_key[:-6].replace("_", "-"))
    return resources(opts.get(cpu_key), opts.get(mem_key), gpus, devices)


def build(**opts: Any) -> JobSpec:
    """Build a TFJob spec from flag values (the CLI's dest names)."""
    fields = common_fields(opts, "tfjob")
    command = command_text(opts.get("command"))
    raw_workers = opts.get("workers")
    workers = non_negative(1 if raw_workers is None else raw_workers, "--workers")
    ps = non_negative(opts.get("ps") or 0, "--ps")
    chief, evaluator = bool(opts.get("chief")), bool(opts.get("evaluator"))
    if workers == 0 and not chief:
        raise InvalidSpec("--workers", "a tfjob needs at least one worker, or --chief")
    # --gpus is per worker, and the chief and evaluator run the same program (upstream counts them too).
    worker_gpus = resources(gpus=opts.get("gpus") or 0).gpus
    devices = tuple(opts.get("device") or ())
    ps_gpus = resources(gpus=opts.get("ps_gpus") or 0, prefix="ps-").gpus
    image = fields["image"]
    worker_image = opts.get("worker_image") or image
    ps_image = opts.get("ps_image") or image

    def role(name: str, replicas: int, img: str, res: Resources) -> TaskSpec:
        # TFJob's default restartPolicy is Never for every role (SEMANTICS.md E.1).
        return TaskSpec(name=name, replicas=replicas, command=command, image=img, resources=res,
                        restart_policy="Never", port=check_port(opts.get(f"{name}_port"), f"--{name}-port"))

    tasks: list[TaskSpec] = []
    if chief:
        tasks.append(role("chief", 1, worker_image, _role_resources(opts, "chief", worker_gpus, devices)))
    if ps:
        tasks.append(role("ps", ps, ps_image, _role_resources(opts, "ps", ps_gpus, ())))
    if workers:
        tasks.append(role("worker", workers, worker_image, _role_resources(opts, "worker", worker_gpus, devices)))
    if evaluator:
        tasks.append(role("evaluator", 1, worker_image, _role_resources(opts, "evaluator", worker_gpus, devices)))
    options = TFOptions(success_policy=check_success_policy(opts.get("success_policy")),  # type: ignore[arg-type]
                        standalone=is_standalone(ps, workers, chief, evaluator))
    return JobSpec(
        **fields,
        tasks=tasks,
        workers=workers,
        run_policy=run_policy(opts.get("retry") or 0, opts.get("clean_task_policy") or "Running",
                              opts.get("running_timeout"), opts.get("ttl_after_finished")),
        options=options,
    )
