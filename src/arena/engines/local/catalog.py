"""Each job's spec, plan and controller, decoded once and kept by uid (none of them changes after submit).

Kept for the most recently used jobs only: a plan holds the submitter's environment (kilobytes), so keeping
every job ever submitted grew the daemon by ~15 MB per thousand finished jobs. An entry dropped here is decoded
again from the store on its next use; controllers hold no state of their own, so nothing is lost.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import msgspec

from arena import kinds
from arena.engines.local import plan as plans
from arena.engines.local import planner
from arena.engines.local.controllers.base import Controller
from arena.engines.local.plan import Inputs, LocalPlan
from arena.engines.local.repo import Repo
from arena.spec import job as jobspec
from arena.spec.job import JobSpec

KEEP = 1024  # jobs: more than a machine runs at once, so the reconcile loop never decodes twice per pass


class _Entry:
    __slots__ = ("spec", "plan", "controller")

    def __init__(self) -> None:
        self.spec: JobSpec | None = None
        self.plan: LocalPlan | None = None
        self.controller: Controller | None = None


class Catalog:
    def __init__(self, repo: Repo, keep: int = KEEP) -> None:
        self.repo = repo
        self.keep = keep
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()  # the API's workers and the loop share it

    def _entry(self, uid: str) -> _Entry:
        with self._lock:
            found = self._entries.get(uid)
            if found is None:
                found = self._entries[uid] = _Entry()
                while len(self._entries) > self.keep:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(uid)
            return found

    def remember(self, uid: str, plan: LocalPlan) -> None:
        entry = self._entry(uid)
        entry.spec = plan.spec
        entry.plan = plan

    def forget(self, uid: str) -> None:
        with self._lock:
            self._entries.pop(uid, None)

    def spec(self, uid: str, text: str | None = None) -> JobSpec:
        entry = self._entry(uid)
        if entry.spec is None:
            if text is None:
                row = self.repo.job(uid)
                text = row.spec if row is not None else "{}"
            entry.spec = jobspec.decode(text)
        return entry.spec

    def plan(self, uid: str) -> LocalPlan | None:
        """The plan the job was submitted with (a job stored before plans is planned again from its spec)."""
        entry = self._entry(uid)
        found = entry.plan
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
            entry.plan = found
        return found

    def controller(self, uid: str, text: str | None = None) -> Controller:
        entry = self._entry(uid)
        if entry.controller is None:
            spec = self.spec(uid, text)
            entry.controller = kinds.get(spec.kind, "kind").local_controller(spec)
        return entry.controller
