"""Each job's spec, plan and controller, decoded once and kept by uid (none of them changes after submit)."""
from __future__ import annotations

import msgspec

from arena import kinds
from arena.engines.local import plan as plans
from arena.engines.local import planner
from arena.engines.local.controllers.base import Controller
from arena.engines.local.plan import Inputs, LocalPlan
from arena.engines.local.repo import Repo
from arena.spec import job as jobspec
from arena.spec.job import JobSpec


class Catalog:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._specs: dict[str, JobSpec] = {}
        self._plans: dict[str, LocalPlan] = {}
        self._controllers: dict[str, Controller] = {}

    def remember(self, uid: str, plan: LocalPlan) -> None:
        self._specs[uid] = plan.spec
        self._plans[uid] = plan

    def forget(self, uid: str) -> None:
        self._specs.pop(uid, None)
        self._plans.pop(uid, None)
        self._controllers.pop(uid, None)

    def spec(self, uid: str, text: str | None = None) -> JobSpec:
        spec = self._specs.get(uid)
        if spec is None:
            if text is None:
                row = self.repo.job(uid)
                text = row.spec if row is not None else "{}"
            spec = self._specs[uid] = jobspec.decode(text)
        return spec

    def plan(self, uid: str) -> LocalPlan | None:
        """The plan the job was submitted with (a job stored before plans is planned again from its spec)."""
        found = self._plans.get(uid)
        if found is None:
            source = self.repo.plan_source(uid)
            if source is None:
                return None
            plan_text, spec_text, base_env = source
            if plan_text:
                found = plans.decode(plan_text)
            else:
                env = msgspec.json.decode(base_env or "{}", type=dict[str, str])
                found = planner.plan(self.spec(uid, spec_text), Inputs(base_env=env))
            self._plans[uid] = found
        return found

    def controller(self, uid: str, text: str | None = None) -> Controller:
        found = self._controllers.get(uid)
        if found is None:
            spec = self.spec(uid, text)
            found = self._controllers[uid] = kinds.get(spec.kind, "kind").local_controller(spec)
        return found
