"""AppWrapper's fault tolerance around its inner job (a PyTorchJob's or a Volcano Job's rules).

Any failed pod makes the AppWrapper unhealthy: it is reset (every replica stopped, then queued again
after the failure and retry-pause periods) while `retryLimit` allows, and fails after. Too few replicas
running once the admission (not all created) or warm-up (all created, not all running) grace period
after a deploy has passed also resets it. Success follows the inner job's rule; `successTTL` keeps a
succeeded AppWrapper that long.
"""
from __future__ import annotations

import msgspec

from arena.engines.local.controllers.base import NOTHING, Controller, Counters, Outcome, ReplicaState
from arena.spec import duration
from arena.spec.job import AppWrapperOptions, JobSpec


class AppWrapper(Controller):
    watches_time = True

    def __init__(self, inner: Controller) -> None:
        self.inner = inner

    def on_exit(self, spec: JobSpec, replicas: list[ReplicaState], key: str, code: int,
                counters: Counters) -> Outcome:
        opts = spec.options_as(AppWrapperOptions)
        if code != 0:
            if counters.retries >= opts.retry_limit:
                return Outcome("fail", f"replica {key} exited with code {code}; retryLimit ({opts.retry_limit}) "
                                       "reached", "Failed")
            pause = duration.parse_seconds(opts.retry_pause_period, "retry_pause_period")
            grace = duration.parse_seconds(opts.failure_grace_period, "failure_grace_period")
            # Both periods run from the failure (the Unhealthy transition): resume once the later one is over.
            return Outcome("reset", f"replica {key} exited with code {code}; reset "
                                    f"{counters.retries + 1}/{opts.retry_limit} after {opts.retry_pause_period}",
                           hold=max(grace, pause))
        # The inner job's own retry counter does not exist under an AppWrapper: its rules see none.
        inner = self.inner.on_exit(spec, replicas, key, code, Counters(restarts=counters.restarts))
        if inner.action == "succeed":
            return Outcome("succeed", inner.reason, "Succeeded")
        if inner.action == "restart":  # an in-place restart is not one of the AppWrapper's resets
            return msgspec.structs.replace(inner, counted=False)
        return inner

    def on_tick(self, spec: JobSpec, replicas: list[ReplicaState], counters: Counters, deployed: float,
                now: float) -> Outcome:
        opts = spec.options_as(AppWrapperOptions)
        states = [r.state for r in replicas]
        expected = len(states)
        ready = sum(1 for st in states if st in ("Running", "Succeeded"))
        if ready >= expected or "Terminating" in states:
            return NOTHING
        created = sum(1 for st in states if st in ("Starting", "Running", "Succeeded"))
        warm = created >= expected
        field = "warmup_grace_period" if warm else "admission_grace_period"
        period = getattr(opts, field)
        if now - deployed < duration.parse_seconds(period, field):
            return NOTHING
        why = (f"InsufficientPodsReady: {ready}/{expected} replicas running "
               f"{'warm-up' if warm else 'admission'} grace period ({period}) after deploy")
        if counters.retries >= opts.retry_limit:
            return Outcome("fail", f"{why}; retryLimit ({opts.retry_limit}) reached", "Failed")
        return Outcome("reset", why, hold=duration.parse_seconds(opts.retry_pause_period, "retry_pause_period"))

    def ttl(self, spec: JobSpec, status: str) -> float | None:
        success_ttl = spec.options_as(AppWrapperOptions).success_ttl
        if success_ttl and status == "SUCCEEDED":
            return duration.parse_seconds(success_ttl, "success_ttl")
        return super().ttl(spec, status)
