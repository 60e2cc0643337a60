"""`arena list`'s light read model (`arena.summary`) and its column printer: the same rows and text as the
full views and the row printer give."""
from __future__ import annotations

import io

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.cli.jobtable import duration, summary_columns
from arena.cli.output import columns, table
from arena.summary import FIELDS, JobSummary, from_wire, node_ip, summarize
from arena.views import Instance, JobView


def view(**kw: object) -> JobView:
    base: dict = {"uuid": "u1", "name": "a", "namespace": "default", "kind": "pytorchjob", "trainer": "PYTORCHJOB",
                  "status": "RUNNING", "phase": "Running", "creationTimestamp": 100.0, "startTime": 110.0}
    return JobView(**{**base, **kw})


def test_a_summary_carries_the_views_fields_and_duration() -> None:
    v = view(requestGPUs=2, allocatedGPUs=1, queue="q", priority="high", position=3, reason="waits")
    s = summarize(v)
    assert s == JobSummary("a", "default", "pytorchjob", "PYTORCHJOB", "RUNNING", 100.0, 110.0, None, 2, 1,
                           "127.0.0.1", "q", "high", 3, "waits")
    assert s.duration(130.0) == v.duration(130.0) == 20.0
    assert not s.finished and summarize(view(status="FAILED", finishTime=120.0)).finished


@pytest.mark.parametrize(("kw", "ip"), [
    ({}, "127.0.0.1"),  # locally: the machine once admitted (a local list carries no instances)
    ({"status": "QUEUING"}, ""),
    ({"engine": "kubernetes"}, ""),
    ({"engine": "kubernetes", "instances": [Instance(name="a-w", task="worker", index=0, status="Running",
                                                     nodeIP="10.0.0.9"),
                                            Instance(name="a-m", task="master", index=0, status="Running",
                                                     chief=True, nodeIP="10.0.0.7")]}, "10.0.0.7"),
])
def test_the_node_is_the_chiefs(kw: dict, ip: str) -> None:
    assert node_ip(view(**kw)) == ip


@given(st.lists(st.builds(
    JobSummary, name=st.text(max_size=5), namespace=st.sampled_from(["default", "b"]),
    kind=st.sampled_from(["pytorchjob", "tfjob"]), trainer=st.just("X"),
    status=st.sampled_from(["QUEUING", "RUNNING", "SUCCEEDED"]), creationTimestamp=st.floats(0, 2e9),
    startTime=st.none() | st.floats(0, 2e9), finishTime=st.none() | st.floats(0, 2e9),
    requestGPUs=st.integers(0, 8), allocatedGPUs=st.integers(0, 8), nodeIP=st.sampled_from(["", "127.0.0.1"]),
    queue=st.text(max_size=3), priority=st.sampled_from(["N/A", "high"]), position=st.integers(0, 3),
    reason=st.text(max_size=8)), max_size=40))
def test_the_wire_gives_back_what_was_sent(summaries: list[JobSummary]) -> None:
    """As the daemon sends them (`listing`: each row encoded on its own, joined under the field names)."""
    data = b'{"fields":' + msgspec.json.encode(FIELDS) + b',"rows":[' + \
        b",".join(msgspec.json.encode(s) for s in summaries) + b"]}"
    assert from_wire(msgspec.json.decode(data)) == summaries


def test_the_wire_is_read_by_field_name_whatever_the_daemons_version() -> None:
    s = summarize(view())
    # an older or newer daemon: fields reordered, one missing (its default), one unknown (ignored)
    other = [f for f in reversed(FIELDS) if f != "queue"] + ["future"]
    (got,) = from_wire({"fields": other, "rows": [[getattr(s, f) for f in other if f != "future"] + ["x"]]})
    assert got == s._replace(queue="default")


def test_summary_columns_match_the_rows_they_replace() -> None:
    """Against the row-at-a-time build from full views that `arena list` used before summaries."""
    views = [view(name=f"j{i}", startTime=None if i % 3 == 0 else 100.0 - i, finishTime=None if i % 2 else 150.0,
                  status="QUEUING" if i % 3 == 0 else "SUCCEEDED", reason="" if i % 2 else "done", position=i % 2,
                  namespace=f"ns{i % 2}", allocatedGPUs=i) for i in range(7)]
    now = 4000.0
    expected = [(v.namespace, v.name, v.status, v.trainer, duration(v, now), v.requestGPUs, v.allocatedGPUs,
                 node_ip(v) or "N/A", v.queue, v.priority, v.position or "-", v.reason or "-") for v in views]
    assert list(zip(*summary_columns([summarize(v) for v in views], now, all_namespaces=True, wide=True))) == expected
    assert [r[4] for r in expected] == ["50s", "65m", "52s", "0s", "54s", "65m", "50s"]
    narrow = summary_columns([summarize(v) for v in views], now, all_namespaces=False)
    assert list(zip(*narrow)) == [r[1:8] for r in expected]
    assert summary_columns([], now, all_namespaces=False) == [(), (), (), [], (), (), []]


@given(st.lists(st.lists(st.one_of(st.text(alphabet="ab -", max_size=6), st.integers(-5, 500)), min_size=3,
                         max_size=3), max_size=6),
       st.booleans(), st.sampled_from(["", "  "]))
def test_columns_print_what_the_row_table_printed(rows: list[list], underline: bool, indent: str) -> None:
    """The column printer against the straightforward row printer it replaced."""
    headers = ["NAME", "X", "LONG HEADER"]
    data = [[c if type(c) is str else str(c) for c in r] for r in rows]
    every = [headers] + ([["-" * len(h) for h in headers]] if underline else []) + data
    widths = [max(map(len, column)) for column in zip(*every)]
    line = indent + "   ".join(f"{{:<{w}}}" for w in widths)
    expected = "\n".join(line.format(*r).rstrip() for r in every) + "\n"
    out = io.StringIO()
    table(headers, rows, out=out, indent=indent, underline=underline)
    assert out.getvalue() == expected
    by_columns = io.StringIO()
    columns(headers, list(zip(*rows)) if rows else [(), (), ()], out=by_columns, indent=indent, underline=underline)
    assert by_columns.getvalue() == expected


def test_the_summary_is_a_plain_tuple_of_json_values() -> None:
    s = summarize(view())
    assert msgspec.json.decode(msgspec.json.encode(list(s))) == list(s)


def test_a_daemon_from_before_summaries_answers_full_views_and_they_are_summarized() -> None:
    views = [view(), view(name="b", status="QUEUING", startTime=None)]
    assert from_wire(msgspec.json.decode(msgspec.json.encode(views))) == [summarize(v) for v in views]


@pytest.mark.parametrize("doc", [{"fields": ["name"], "columns": [["a"]]}, {"rows": []}, "x", 3, None])
def test_an_answer_in_no_known_form_is_refused(doc: object) -> None:
    with pytest.raises(ValueError):
        from_wire(doc)
