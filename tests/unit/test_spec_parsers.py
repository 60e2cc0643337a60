"""Parsers of the spec layer: quantities, durations, names, KEY=VALUE lists."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.errors import InvalidSpec
from arena.spec import duration, keyvalue, names, quantity


@pytest.mark.parametrize("text,milli", [("1", 1000), ("500m", 500), ("0.5", 500), ("2.25", 2250), ("1e1", 10000)])
def test_cpu_quantities(text, milli):
    assert quantity.cpu_milli(text) == milli


@pytest.mark.parametrize("text,nbytes", [("1Gi", 2**30), ("512Mi", 2**29), ("1G", 10**9), ("1.5Gi", 3 * 2**29),
                                         ("100", 100), ("1k", 1000)])
def test_memory_quantities(text, nbytes):
    assert quantity.memory_bytes(text) == nbytes


@pytest.mark.parametrize("bad", ["", "two", "4GB", "-1", "1.2.3", "Gi", "1 Gi"])
def test_bad_quantities_name_the_field(bad):
    with pytest.raises(InvalidSpec) as exc:
        quantity.memory_bytes(bad or " ", "--memory")
    assert exc.value.field == "--memory"


@given(st.integers(min_value=0, max_value=2**33 - 1), st.sampled_from(["", "Ki", "Mi", "Gi"]))
def test_memory_round_trip(n, suffix):
    mult = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}[suffix]
    assert quantity.memory_bytes(f"{n}{suffix}") == n * mult
    assert quantity.memory_bytes(quantity.format_memory(n * mult)) == n * mult


@pytest.mark.parametrize("value", ["8Ei", "9223372036854775808", "1e309", "1e999999999"])
def test_quantities_beyond_kubernetes_int64_are_refused(value):
    """Kubernetes caps a quantity at 2^63-1: a larger request can never be scheduled, so it is refused."""
    with pytest.raises(InvalidSpec, match="too large"):
        quantity.memory_bytes(value, "--memory")


@given(st.text(max_size=12))
def test_quantity_parser_never_crashes(text):
    try:
        quantity.parse(text, "--cpu")
    except InvalidSpec as exc:
        assert exc.field == "--cpu"


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800),
                                          ("10", 10), ("1.5h", 5400)])
def test_durations(text, seconds):
    assert duration.parse_seconds(text, "--since") == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "soon", "5 m", "m5", "-3", "1h-2m"])
def test_bad_durations(bad):
    with pytest.raises(InvalidSpec):
        duration.parse_seconds(bad, "--since")


@given(st.integers(0, 1000), st.integers(0, 59), st.integers(0, 59))
def test_duration_components_add_up(h, m, s):
    assert duration.parse_seconds(f"{h}h{m}m{s}s", "x") == h * 3600 + m * 60 + s


def test_short_human_duration():
    assert [duration.short_human(x) for x in (5, 119, 120, 7199, 7200, 172799, 172800, 800 * 86400)] == \
        ["5s", "119s", "2m", "119m", "2h", "47h", "2d", "2y"]


@pytest.mark.parametrize("name", ["a", "job-1", "x" * 49, "0abc"])
def test_valid_job_names(name):
    assert names.check_job_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "a_b", "-a", "a-", "x" * 50, "a.b"])
def test_invalid_job_names(name):
    with pytest.raises(InvalidSpec) as exc:
        names.check_job_name(name)
    assert exc.value.field == "--name"


@given(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,47}[a-z0-9])?", fullmatch=True))
def test_every_dns_label_up_to_49_is_a_valid_job_name(name):
    assert names.check_job_name(name) == name


def test_env_parsing():
    assert keyvalue.parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    for bad in (["A"], ["=1"], ["1A=2"], ["A B=1"]):
        with pytest.raises(InvalidSpec):
            keyvalue.parse_env(bad)


def test_labels_and_csv_pairs():
    assert keyvalue.parse_labels(["app=x", "example.com/team=ml"]) == {"app": "x", "example.com/team": "ml"}
    with pytest.raises(InvalidSpec):
        keyvalue.parse_labels(["bad key=x"])
    assert keyvalue.parse_csv_pairs("cpu=8, memory=32Gi,nvidia.com/gpu=4", "x") == \
        {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "4"}
