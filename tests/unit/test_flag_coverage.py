"""Every flag of every kind is used: given, it changes the JobSpec, or it is refused with one line naming it.

The flags come from the registry (`arena.kinds`), so a flag added to a kind is covered without touching this
file; its declaration must carry an `example` (a valid value that differs from the default) and, when the
example only matters next to other flags, `example_with`/`needs` saying which.
"""
from __future__ import annotations

from typing import Any

import pytest

from arena import kinds
from arena.errors import InvalidSpec
from arena.kinds.base import Kind
from arena.kinds.flags import Flag

BASE = {"name": "cov", "command": "python run.py"}
JOB_FLAGS = [(kind, flag) for kind in kinds.all() for flag in kind.flags if not flag.command_only]
IDS = [f"{kind.name}:{flag.name}" for kind, flag in JOB_FLAGS]


def spec(kind: Kind, **opts: Any) -> Any:
    return kind.spec_from_options({**BASE, **opts})


def context(flag: Flag) -> dict[str, Any]:
    """The other flags that the flag's example needs to matter."""
    out: dict[str, Any] = {}
    for need in flag.needs:
        out.update(need.opts)
    return out | dict(flag.example_with)


@pytest.mark.parametrize("kind, flag", JOB_FLAGS, ids=IDS)
def test_flag_changes_the_spec(kind: Kind, flag: Flag) -> None:
    assert flag.example is not None, f"{kind.name} {flag.name}: declare an example value"
    assert flag.to is not None, f"{kind.name} {flag.name}: a job flag needs a mapping into the job document"
    ctx = context(flag)
    assert flag.dest not in ctx
    given = spec(kind, **ctx, **{flag.dest: flag.example})
    try:
        without = spec(kind, **ctx)
    except InvalidSpec as err:  # a pair (--sync-mode and --sync-source): its partner alone is refused
        assert flag.name in err.rule or err.field == flag.name, err
        return
    assert given != without


@pytest.mark.parametrize("kind, flag", JOB_FLAGS, ids=IDS)
def test_flag_alone_is_used_or_refused(kind: Kind, flag: Flag) -> None:
    """Outside the context it needs, a flag is refused with one line that names it, never ignored."""
    try:
        alone = spec(kind, **{flag.dest: flag.example})
    except InvalidSpec as err:
        line = str(err)
        assert "\n" not in line and err.field.startswith("-") and flag.name in line, line
        return
    assert alone != spec(kind)


def test_command_flags_are_declared_and_never_reach_the_job() -> None:
    from arena.spec import jobfile

    for kind in kinds.all():
        command = {f.dest for f in kind.flags if f.command_only}
        assert {"file", "wait", "wait_timeout", "dry_run", "output"} <= command, kind.name
        assert command <= jobfile.IGNORED_FLAGS
        assert "image_pull_policy" not in jobfile.IGNORED_FLAGS


def test_image_pull_policy_is_checked_and_kept() -> None:
    kind = kinds.get("pytorchjob")
    assert spec(kind).image_pull_policy is None  # not given: the engine's default, upstream's Always
    assert spec(kind, image_pull_policy="Never").image_pull_policy == "Never"
    with pytest.raises(InvalidSpec, match="must be one of Always, IfNotPresent, Never") as err:
        spec(kind, image_pull_policy="sometimes")
    assert err.value.field == "--image-pull-policy"
