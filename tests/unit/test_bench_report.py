"""The pure half of `python -m bench`: figures judged against their targets, the terminal table and the
generated docs/benchmarks.md, from a sample results dict. No benchmark runs here."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The suite runs with --import-mode=importlib, which leaves sys.path alone: bench/ lives at the repository root.
sys.path.insert(0, str(ROOT))

from bench import figures, report  # noqa: E402
from bench.__main__ import main  # noqa: E402
from bench.figures import failure, figure, peer, target  # noqa: E402


def sample() -> dict[str, Any]:
    figs = [
        figure("startup", "arena version", "ms", [30.0, 28.0, 35.0], goal=target("<=", 1.0, of_peer=True),
               versus=peer("kubectl version --client", [44.0, 43.0, 50.0])),
        figure("startup", "arena --help", "ms", [25.0, 24.0]),
        figure("jobs", "throughput", "jobs/s", [120.0, 160.0, 155.0], goal=target(">=", 150)),
        figure("jobs", "arena list during the bursts", "ms", [float(x) for x in range(1, 301)],
               goal=target("<", 200, stat="p99"), note="one list every 200 ms"),
        figure("kubernetes", "list, warm", "ms", stats={"runs": 5, "min": 700.0, "median": 800.0},
               goal=target("<", 1500)),
        failure("serving", "Serving proxy against direct", "RuntimeError: bench_serving.py exited 1: boom | x"),
    ]
    parts = [{"name": n, "title": t, "about": f"how {n} measures", "seconds": 1.0, "error": None}
             for n, t in (("startup", "CLI start-up"), ("jobs", "Jobs"), ("kubernetes", "Kubernetes engine"),
                          ("serving", "Serving"))]
    return {"command": "python -m bench", "quick": False, "only": [], "started": "2026-12-01 11:00 UTC",
            "duration_s": 420.0, "parts": parts, "figures": figs,
            "machine": {"cpu_model": "Test CPU", "cpus": 2, "memory_gib": 24.0, "os": "Debian 12", "python": "3.11.2",
                        "torch": "2.5.0", "arena": "0.9.0", "commit": "abc1234", "load_avg_start": [1.5, 1.0, 0.5]}}


def by_name(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in results["figures"]}


def test_figures_are_judged_on_the_median_or_the_named_statistic() -> None:
    figs = by_name(sample())
    version = figs["arena version"]
    assert (version["min"], version["median"], version["max"], version["runs"]) == (28.0, 30.0, 35.0, 3)
    assert version["ratio"] == pytest.approx(30.0 / 44.0) and version["passed"] is True
    assert figs["throughput"]["passed"] is True  # median 155 >= 150, though one burst was slower
    assert figs["arena list during the bursts"]["p99"] == 297.0  # nearest rank: a measured value
    assert figs["arena list during the bursts"]["passed"] is False
    assert figs["arena --help"]["passed"] is None  # no target
    assert figs["list, warm"]["max"] is None and figs["list, warm"]["passed"] is True


def test_a_relative_target_without_a_peer_is_not_judged() -> None:
    fig = figure("startup", "arena version", "ms", [30.0], goal=target("<=", 1.0, of_peer=True),
                 versus=peer("kubectl version --client", missing="not on PATH"))
    assert fig["passed"] is None and fig["ratio"] is None
    assert "kubectl version --client: not available (not on PATH)" in report.row(fig)


def test_bad_targets_are_refused() -> None:
    with pytest.raises(ValueError):
        target("~", 1)
    with pytest.raises(ValueError):
        target("<", 1, stat="mean")


def test_table_has_one_row_per_figure_with_target_verdict_and_peer() -> None:
    text = report.table(sample())
    lines = text.splitlines()
    assert lines[0].startswith("Arena benchmarks: full run, 2026-12-01 11:00 UTC, 7.0 min; Test CPU, 2 CPUs")
    assert lines[1].split()[:5] == ["figure", "runs", "min", "median", "max"]
    version = next(line for line in lines if "arena version" in line)
    assert "28.0 ms" in version and "35.0 ms" in version and "≤ 1 × peer (now 0.68 ×)" in version
    assert "pass" in version and "kubectl version --client: 44.0 ms (43.0–50.0)" in version
    bursts = next(line for line in lines if "during the bursts" in line)
    assert "p99 < 200 ms (now 297 ms)" in bursts and "FAIL" in bursts
    warm = next(line for line in lines if "list, warm" in line)
    assert "—" in warm  # max not measured by that script
    broken = next(line for line in lines if "Serving proxy" in line)
    assert "error" in broken and "boom" in broken
    assert "[serving] Serving" in lines
    assert lines[-1] == "targets: 3 pass, 1 FAIL; 1 part failed to run"
    # aligned: numbers are right-justified under their header
    end = lines[1].index("median") + len("median")
    assert version[:end].endswith("30.0 ms") and warm[:end].endswith("800 ms")


def test_docs_say_they_are_generated_and_hold_every_figure(tmp_path: Path) -> None:
    results = sample()
    notes = tmp_path / "notes.md"
    notes.write_text("## Notes\n\nWhere the time goes.\n")
    doc = tmp_path / "benchmarks.md"
    report.write_docs(results, doc, notes)
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n")
    assert "Generated by `python -m bench`" in text and "Do not edit" in text
    assert "| Test CPU | 2 | 24.0 GiB | Debian 12 | 3.11.2 | 2.5.0 | 1.50 / 1.00 / 0.50 |" in text
    assert "**Targets met: 3 of 4.**" in text
    assert "The machine was busy" not in text  # load 1.5 on 2 CPUs
    results["machine"]["load_avg_start"] = [9.0, 8.0, 7.0]
    assert "**The machine was busy** (load average 9.00 on 2 CPUs" in report.markdown(results)
    for part in results["parts"]:
        assert f"### {part['title']} (`--only {part['name']}`)" in text and part["about"] in text
    for fig in results["figures"]:
        assert f"| {fig['name']} |" in text
    assert "boom \\| x" in text  # a pipe in a cell is escaped
    assert "- arena list during the bursts: one list every 200 ms" in text
    assert text.rstrip().endswith("Where the time goes.")


def test_numbers_keep_three_digits_or_so() -> None:
    assert [report.number(v, "ms") for v in (0.1234, 1.234, 12.34, 1234.5)] == [
        "0.123 ms", "1.23 ms", "12.3 ms", "1,234 ms"]
    assert report.number(None) == "—" and report.number(80.0, "%") == "80.0%"
    assert figures.percentile([5.0, 1.0, 3.0], 50) == 3.0


def test_docs_only_regenerates_from_latest_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import bench.__main__ as entry

    latest = tmp_path / "latest.json"
    monkeypatch.setattr(entry, "LATEST", latest)
    monkeypatch.setattr(entry, "DOCS", tmp_path / "benchmarks.md")
    monkeypatch.setattr(entry, "ROOT", tmp_path)
    assert main(["--docs-only"]) == 2  # nothing to generate from: one line, exit 2
    assert capsys.readouterr().err.strip() == (
        "bench: --docs-only: latest.json does not exist; run python -m bench first")
    latest.write_text(json.dumps(sample()))
    assert main(["--docs-only"]) == 0
    assert "| arena version |" in (tmp_path / "benchmarks.md").read_text()


def test_an_unknown_part_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "startup,nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: --only: unknown part 'nope' (known: startup, ddp, jobs")
    assert len(err.splitlines()) == 1


def test_the_filesystem_is_waited_for_until_a_new_inode_is_cheap_again(monkeypatch, tmp_path: Path) -> None:
    from bench import machine

    costs = iter([900.0, 450.0, 60.0, 1000.0])
    monkeypatch.setattr(machine, "new_inode_us", lambda directory: next(costs))
    monkeypatch.setattr(machine, "SETTLE_STEP_S", 0.0)
    got = machine.settle_filesystem(tmp_path)
    assert (got["new_inode_us_first"], got["new_inode_us"]) == (900.0, 60.0)
    assert next(costs) == 1000.0  # no probe after the settled one


def test_a_cheap_probe_still_waits_out_the_last_deletion_of_a_runs_homes(monkeypatch, tmp_path: Path) -> None:
    from bench import machine

    probes = []
    monkeypatch.setattr(machine, "new_inode_us", lambda directory: probes.append(directory) or 40.0)
    monkeypatch.setattr(machine, "SETTLE_STEP_S", 0.0)
    left = iter([200.0, 100.0, 0.0])
    monkeypatch.setattr(machine, "deletion_left_s", lambda directory: next(left))
    assert machine.settle_filesystem(tmp_path / "home")["new_inode_us"] == 40.0
    assert len(probes) == 3  # the first, then one after each wait


def test_a_deletion_is_noted_for_the_next_run(monkeypatch, tmp_path: Path) -> None:
    from bench import machine

    assert machine.deletion_left_s(tmp_path) == 0.0  # never noted
    machine.deleted(tmp_path)
    assert 0.0 < machine.deletion_left_s(tmp_path) <= machine.FORGET_S
    monkeypatch.setattr(machine, "FORGET_S", 0.0)
    assert machine.deletion_left_s(tmp_path) == 0.0  # forgotten


def test_a_probe_makes_folders_and_files_as_jobs_do_in_a_folder_of_its_own(tmp_path: Path) -> None:
    from bench import machine

    assert machine.new_inode_us(tmp_path, jobs=3) > 0
    (probe,) = tmp_path.iterdir()
    assert probe.name.startswith("probe-")
    made = sorted(str(p.relative_to(probe)) for p in probe.rglob("*"))
    assert made == sorted(f"job{i}{tail}" for i in range(3) for tail in ("", "/logs", "/record", "/logs/log"))


def test_the_machines_speed_at_both_ends_is_in_the_headline_and_the_docs() -> None:
    results = sample()
    assert "speed loop" not in report.headline(results)  # a run from before the loop was timed
    results["machine"] |= {"loop_ms_start": 70.4, "loop_ms_end": 152.0}
    assert "speed loop 70 ms" in report.headline(results)
    assert "took 70 ms at the start and 152 ms at the end" in report.markdown(results)


def test_the_serving_part_reports_each_peer_and_says_which_are_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import parts

    def run(label: str, rps: float) -> dict[str, Any]:
        return {"rps": rps, "p50_ms": 0.2, "p99_ms": 0.5, "forwarder_cpu_us_per_request": 40.0}

    rounds = [{"connections": 1, "sample": i, "direct": run("direct", 1000.0),
               "proxy": {**run("proxy", 700.0), "proxy_cpu_us_per_request": 90.0}, "c_forwarder": run("c", 900.0),
               "overhead_p50_ms": 0.1, "throughput_ratio": 0.7, "peer_ratios": {"c_forwarder": 0.9}}
              for i in (1, 2)]
    got = {"runs": rounds, "peers": {"c_forwarder": "C epoll byte forwarder"},
           "peers_missing": {"go_reverseproxy": "go is not on PATH"}}
    monkeypatch.setattr(parts, "script", lambda *a, **k: got)
    figs = {f["name"]: f for f in parts.serving(quick=True)}
    share = figs["proxy throughput as a share of direct, 1 connection"]
    assert share["median"] == pytest.approx(70.0) and share["passed"] is False
    assert share["peer"]["name"] == "C epoll byte forwarder" and share["peer"]["median"] == pytest.approx(90.0)
    assert figs["C epoll byte forwarder: throughput as a share of direct, 1 connection"]["median"] == pytest.approx(90.0)
    missing = figs["peer go_reverseproxy: throughput as a share of direct"]
    assert missing["median"] is None and "go is not on PATH" in missing["note"] and missing["passed"] is None
