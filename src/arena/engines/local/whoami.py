"""`arena whoami` on the local engine: the operating-system user that owns the daemon's jobs.

The Id is computed as on a cluster (`engines.kubernetes.identity.user_id`), so the same person gets the
same Id in both places when the names match. There is no arena-config ConfigMap here: the
administrator is root, and a single-user daemon isolates nobody.
"""
from __future__ import annotations

import getpass
import os

from arena.engines.kubernetes.identity import user_id
from arena.views import UserView


def whoami() -> UserView:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container with an arbitrary uid)
        name = str(os.getuid())
    return UserView(name=name, id=user_id(name), is_admin_user=os.geteuid() == 0, isolate_user=False)
