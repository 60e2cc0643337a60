"""`--toleration` in every format of the AppWrapper fork; malformed input is an error, never dropped."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.engines.kubernetes.render import tolerations
from arena.errors import InvalidSpec


@pytest.mark.parametrize("text,expected", [
    ("all", {"operator": "Exists"}),
    ("gpu", {"key": "gpu", "operator": "Exists"}),
    ("gpu:NoSchedule", {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}),
    ("gpu:PreferNoSchedule:Exists", {"key": "gpu", "operator": "Exists", "effect": "PreferNoSchedule"}),
    ("node.kubernetes.io/unreachable:NoExecute:Exists:60",
     {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}),
    ("dedicated=team-a", {"key": "dedicated", "operator": "Equal", "value": "team-a"}),
    ("dedicated=team-a:NoSchedule",
     {"key": "dedicated", "operator": "Equal", "value": "team-a", "effect": "NoSchedule"}),
    ("dedicated=team-a:NoSchedule:Equal",
     {"key": "dedicated", "operator": "Equal", "value": "team-a", "effect": "NoSchedule"}),
    ("dedicated=team-a:NoExecute:Equal:300",
     {"key": "dedicated", "operator": "Equal", "value": "team-a", "effect": "NoExecute", "tolerationSeconds": 300}),
    ("gpu_node=yes:NoSchedule,Equal", {"key": "gpu_node", "operator": "Equal", "value": "yes", "effect": "NoSchedule"}),
])
def test_formats(text: str, expected: dict) -> None:
    assert tolerations.parse(text) == expected


@pytest.mark.parametrize("text", [
    "", ":NoSchedule", "gpu:NoRun", "gpu:NoSchedule:Maybe", "gpu:NoSchedule:Equal",  # Equal needs a value
    "k=v:NoSchedule:Exists",  # Exists cannot carry a value
    "gpu:NoExecute:Exists:soon", "gpu:NoExecute:Exists:-1", "gpu:NoSchedule:Exists:60",  # seconds need NoExecute
    "a:b:c:d:e", "k=v:NoSchedule,Equal:1", "bad key!", "k=bad value:NoSchedule",
])
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        tolerations.parse(text)
    assert err.value.field == "--toleration"


KEYS = st.from_regex(r"\A([a-z]{1,8}\.[a-z]{2,4}/)?[a-z][a-z0-9_.-]{0,10}[a-z0-9]\Z")
VALUES = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9])?\Z")


@given(key=KEYS, value=st.none() | VALUES, effect=st.sampled_from(["", "NoSchedule", "PreferNoSchedule", "NoExecute"]),
       seconds=st.none() | st.integers(min_value=0, max_value=10**6), explicit_op=st.booleans())
def test_round_trip(key: str, value: str | None, effect: str, seconds: int | None, explicit_op: bool) -> None:
    """Any valid toleration written in the new format parses back to the same fields."""
    operator = "Equal" if value else "Exists"
    if seconds is not None and effect != "NoExecute":
        seconds = None
    text = key + (f"={value}" if value else "")
    if effect:
        text += f":{effect}"
        if explicit_op or seconds is not None:
            text += f":{operator}"
        if seconds is not None:
            text += f":{seconds}"
    out = tolerations.parse(text)
    assert out["key"] == key and out["operator"] == operator
    assert out.get("value") == (value or None)
    assert out.get("effect", "") == effect
    assert out.get("tolerationSeconds") == seconds


def test_render_refuses_a_bad_toleration() -> None:
    from k8s_specs import pytorch

    from arena.engines.kubernetes.render import render
    with pytest.raises(InvalidSpec) as err:
        render(pytorch(toleration=["gpu:Sometimes"]))
    assert err.value.field == "--toleration"
