"""One scheduling cycle: gang admission in priority/FIFO order against free node resources."""
from __future__ import annotations

from arena.engines.local.scheduler.snapshot import Amount, Bind, Decisions, Job, Snapshot, Waiting


def _free(snapshot: Snapshot) -> tuple[Amount, list[int]]:
    used = Amount()
    held: set[int] = set()
    for job in snapshot.jobs:
        for r in job.replicas:
            if r.bound and not r.finished:
                used = used + r.request
                held.update(r.gpu_indices)
    free_gpus = [i for i in snapshot.node.gpu_indices if i not in held]
    return snapshot.node.allocatable - used, free_gpus


def _order(job: Job) -> tuple:
    return (-job.priority, job.created, job.uid)


def cycle(snapshot: Snapshot) -> Decisions:
    free, free_gpus = _free(snapshot)
    binds: list[Bind] = []
    waiting: dict[str, Waiting] = {}
    admit: list[str] = []
    position: dict[str, int] = {}
    for job in sorted(snapshot.jobs, key=_order):
        pending = [r for r in job.replicas if not r.bound and not r.finished]
        if not pending:
            continue
        queue = snapshot.queues.get(job.queue)
        position[job.queue] = position.get(job.queue, 0) + 1
        if queue is None or (queue.state != "Open" and not job.admitted):
            waiting[job.uid] = Waiting(f"queue {job.queue} is {'missing' if queue is None else queue.state.lower()}",
                                       position[job.queue])
            continue
        need_for_gang = max(job.min_available - job.bound_count, 0)
        placed: list[Bind] = []
        trial_free, trial_gpus = free, list(free_gpus)
        for r in pending:
            if not r.request.fits_in(trial_free) or r.request.gpus > len(trial_gpus):
                break
            gpus = tuple(trial_gpus[: r.request.gpus])
            del trial_gpus[: r.request.gpus]
            trial_free = trial_free - r.request
            placed.append(Bind(job.uid, r.key, gpus))
        if len(placed) < need_for_gang:
            total = Amount()
            for r in pending[:need_for_gang]:
                total = total + r.request
            short = total.shortfall(free)
            if short:
                res, need, have = short[0]
                reason = f"gang {job.bound_count}/{job.min_available} replicas placeable: needs {_fmt(res, need)} {res}, {_fmt(res, have)} free"
            else:
                reason = f"gang {job.bound_count + len(placed)}/{job.min_available} replicas placeable"
            waiting[job.uid] = Waiting(reason, position[job.queue], job.admitted)
            continue
        if not job.admitted:
            admit.append(job.uid)
        binds.extend(placed)
        free, free_gpus = trial_free, trial_gpus
    return Decisions(binds=tuple(binds), admit=tuple(admit), waiting=waiting)


def _fmt(resource: str, value: int) -> str:
    if resource == "cpu":
        return f"{value}m" if value % 1000 else str(value // 1000)
    if resource == "memory":
        from arena.spec.quantity import format_memory

        return format_memory(value)
    return str(value)
