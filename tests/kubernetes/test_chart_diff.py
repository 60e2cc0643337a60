"""The comparison behind test_helm_compare.py normalises only what its docstring lists, and still reports
every other difference; the documented allow-list parses. Runs without helm."""
from __future__ import annotations

from pathlib import Path

from chart_diff import Allowed, Difference, allowed, compare

DOC = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"


def job(labels: dict[str, str], env: list[dict[str, str]], gpus: object, **meta: object) -> dict[str, object]:
    return {"kind": "PyTorchJob", "metadata": {"name": "up", "labels": labels, **meta},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "env": env,
                                                           "resources": {"limits": {"nvidia.com/gpu": gpus}}}]}}}}


def test_only_the_documented_normalisation_applies() -> None:
    upstream = job({"app": "a", "chart": "x-1", "heritage": "Helm"}, [{"name": "A", "value": "1"},
                                                                      {"name": "B", "value": "2"}], "1",
                   annotations=None)
    ours = job({"app": "a"}, [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}], 1, namespace="ns")
    assert compare([upstream], [ours], "ns") == []
    changed = job({"app": "b"}, [{"name": "A", "value": "9"}], 2)
    where = {d.where for d in compare([upstream], [changed], "ns")}
    assert where == {"PyTorchJob/up:metadata.labels.app",
                     "PyTorchJob/up:spec.template.spec.containers[c].env[A].value",
                     "PyTorchJob/up:spec.template.spec.containers[c].env[B]",
                     "PyTorchJob/up:spec.template.spec.containers[c].resources.limits.nvidia.com/gpu"}
    # An object on one side only is one difference; so is a namespace other than the case's.
    assert [d.where for d in compare([], [{"kind": "ConfigMap", "metadata": {"name": "x"}}], "ns")] == ["ConfigMap/x:"]
    assert [d.where for d in compare([upstream], [{**ours, "metadata": {**ours["metadata"], "namespace": "o"}}],
                                     "ns")] == ["PyTorchJob/up:metadata.namespace"]


def test_patterns_take_brackets_literally() -> None:
    row = Allowed("k", ("*.containers[pytorch].ports[*]",), "why")
    assert row.covers(Difference("PyTorchJob/up:spec.containers[pytorch].ports[p]", None, 1))
    assert not row.covers(Difference("PyTorchJob/up:spec.containers[p].ports[p]", None, 1))


def test_the_documented_list_parses() -> None:
    rows = allowed(DOC)
    assert rows and all(r.key and r.patterns and r.reason for r in rows)
    assert len({r.key for r in rows}) == len(rows)
