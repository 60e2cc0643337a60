"""`GET /v1/jobs`: every job's encoded view and summary, kept current from the jobs the store says changed.

Reading and decoding thousands of job rows on every `arena list` cost the daemon 40 ms or more of CPU during a
burst of submits, when the list is asked for most and every write makes a cached answer stale. The store's
connection notes each job whose row, or whose replicas' GPUs and states, any statement touched
(`Store`'s temporary triggers); a list re-reads only those jobs, so its cost follows what changed, not how
many jobs there are. The notes are taken in the writers' transactions: a rolled-back change leaves none, and
a job changed while a list reads is noted again for the next one.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from arena.summary import FIELDS, summarize

if TYPE_CHECKING:
    from arena.engines.local.repo import Repo
    from arena.views import JobView

_SUMMARY_HEAD = b'{"fields":' + msgspec.json.encode(FIELDS) + b',"rows":['


class _Entry:
    __slots__ = ("uid", "created", "namespace", "kind", "view", "summary")

    def __init__(self, uid: str, view: JobView) -> None:
        self.uid, self.created, self.namespace, self.kind = uid, view.creationTimestamp, view.namespace, view.kind
        self.set(view)

    def set(self, view: JobView) -> None:
        self.view, self.summary = msgspec.json.encode(view), msgspec.json.encode(summarize(view))


class Listing:
    """`listed(raw)` turns one `Repo.jobs_listed_raw` row into the job's view, or None for what `list` leaves
    out (serving versions)."""

    def __init__(self, repo: Repo, listed: Callable[[tuple], JobView | None]) -> None:
        self.repo = repo
        self.listed = listed
        self.lock = threading.Lock()
        self.entries: dict[str, _Entry] | None = None  # by uid; None until the first list reads them all
        self.order: list[_Entry] = []  # newest first
        self.answers: dict[tuple[str | None, str | None, bool], tuple[int, bytes]] = {}

    def encoded(self, namespace: str | None, kind: str | None, summary: bool) -> bytes:
        """The jobs of `namespace` (None: all) and `kind` (canonical; None: all) newest first, as a JSON array of
        views, or with `summary` as their summaries' rows (`arena.summary.from_wire` reads them)."""
        key = (namespace, kind, summary)
        with self.lock:
            changes = self.repo.changes
            hit = self.answers.get(key)
            if hit is not None and hit[0] == changes:
                return hit[1]
            self._refresh()
            chosen = [e for e in self.order
                      if (namespace is None or e.namespace == namespace) and (kind is None or e.kind == kind)]
            if summary:
                data = _SUMMARY_HEAD + b",".join(e.summary for e in chosen) + b"]}"
            else:
                data = b"[" + b",".join(e.view for e in chosen) + b"]"
            if len(self.answers) > 64:
                self.answers.clear()
            self.answers[key] = (changes, data)
            return data

    def _refresh(self) -> None:
        if self.entries is None:
            self.repo.jobs_touched()  # first forget, then read: a change from now on is noted again
            raws = self.repo.jobs_listed_raw(None, None)
            self.entries, touched = {}, []
        else:
            touched = self.repo.jobs_touched()
            if not touched:
                return
            raws = self.repo.jobs_listed_raw_of(touched)
        entries = self.entries
        added: list[_Entry] = []
        gone = set(touched)
        for raw in raws:
            uid, view = raw[0], self.listed(raw)
            if view is None:
                continue
            gone.discard(uid)
            entry = entries.get(uid)
            if entry is None:
                entries[uid] = entry = _Entry(uid, view)
                added.append(entry)
            else:  # in place: `order` holds it
                entry.set(view)
        order = self.order
        gone = {uid for uid in gone if entries.pop(uid, None) is not None}
        if gone:
            order = [e for e in order if e.uid not in gone]
        if added:
            added.sort(key=_newest, reverse=True)
            # jobs are mostly added newest of all: put in front; otherwise sort the whole list again
            order = added + order if not order or _newest(added[-1]) > _newest(order[0]) else \
                sorted(order + added, key=_newest, reverse=True)
        self.order = order


def _newest(e: _Entry) -> tuple[float, str]:
    return e.created, e.uid  # as `Repo.jobs_listed_raw` orders
