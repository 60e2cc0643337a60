"""Per-user isolation, enforced in Arena's own commands as upstream's binary enforces it (ARENA.md §5.2).

A namespace labelled `arena.kubeflow.org/isolate-user=true` shows each user who is not an admin (`adminUsers` of
the `arena-config` ConfigMap in `--arena-namespace`) only the jobs labelled with their Id
(`arena.kubeflow.org/uid`, the md5 of the Kubernetes user): `list`, `prune` and `top job` ask the API server
for those only, with upstream's label selector, and `get`, `logs`, `attach`, `delete` and `top job JOB` of
another user's job fail with upstream's text. Kubernetes RBAC stays the real guard; this keeps users of a shared
namespace out of each other's way, and keeps both tools agreeing on what a user sees.

Asked once per engine (one command) and namespace: one GET of the Namespace, and only when it isolates one GET
of `arena-config` and the user's name (`engine._owner`, already cached). A namespace that cannot be read
(forbidden to a namespaced user, or absent) reads as not isolating, as `arena whoami` says.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from arena.engines.kubernetes.labels import LABEL_UID

if TYPE_CHECKING:
    from arena.engines.kubernetes.api import Api


class Scope(NamedTuple):
    """Which jobs of one namespace this user may see and act on."""

    restricted: bool = False  # the namespace isolates users and this user is no admin
    uid: str = ""  # the user's Id, when restricted

    def selector(self) -> dict[str, str]:
        """The label upstream adds to its job LISTs (`GetTrainingJobLabels`); nothing when unrestricted."""
        return {LABEL_UID: self.uid} if self.restricted else {}

    def owns(self, obj: Mapping[str, Any]) -> bool:
        """Whether this user may act on the job object (a dict as the API returns it)."""
        if not self.restricted:
            return True
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return labels.get(LABEL_UID) == self.uid


OPEN = Scope()


def scope(api: Api, namespace: str, arena_namespace: str, owner: Callable[[], tuple[str, str | None]]) -> Scope:
    """The user's scope in `namespace`. Admins are matched by Id (md5 of each listed name), as upstream does."""
    from arena.engines.kubernetes import identity, whoami

    if not whoami.isolates(api, namespace):
        return OPEN
    uid, _ = owner()
    if uid in {identity.user_id(name) for name in whoami.admin_users(api, arena_namespace)}:
        return OPEN
    return Scope(restricted=True, uid=uid)
