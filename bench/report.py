"""The one table `python -m bench` prints, and docs/benchmarks.md, both rendered from the same results dict
(the JSON of bench/results/latest.json) so that the doc cannot say something the run did not measure."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.figures import Figure

SYMBOL = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}
COMMAND = "python -m bench"
HEADER = ("figure", "runs", "min", "median", "max", "target", "result", "peer (median, min–max)")


def number(value: float | None, unit: str = "") -> str:
    """Three significant digits or so, never scientific notation; '—' for a statistic not measured."""
    if value is None:
        return "—"
    size = abs(value)
    digits = 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 1 else 3
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".rstrip() if unit and unit != "%" else f"{text}{unit}"


def target_text(fig: Figure) -> str:
    goal = fig.get("target")
    if not goal:
        return ""
    op = SYMBOL[goal["op"]]
    prefix = "" if goal["stat"] == "median" else f"{goal['stat']} "
    if goal["of_peer"]:
        now = fig.get("ratio")
        return f"{prefix}{op} {goal['value']:g} × peer" + (f" (now {now:.2f} ×)" if now is not None else "")
    unit = fig["unit"]
    text = f"{prefix}{op} {goal['value']:g}{'' if unit in ('', '%') else ' '}{unit}"
    if prefix and fig.get(goal["stat"]) is not None:
        text += f" (now {number(fig[goal['stat']], fig['unit'])})"
    return text


def verdict(fig: Figure) -> str:
    if fig.get("error"):
        return "error"
    passed = fig.get("passed")
    return "" if passed is None else "pass" if passed else "FAIL"


def peer_text(fig: Figure) -> str:
    if fig.get("error"):
        return f"error: {fig['error']}"
    versus = fig.get("peer")
    if not versus:
        return f"ratio {fig['ratio']:.2f}" if fig.get("ratio") is not None else ""
    if versus.get("missing"):
        return f"{versus['name']}: not available ({versus['missing']})"
    spread = (f" ({number(versus.get('min'))}–{number(versus.get('max'))})"
              if versus.get("min") is not None and versus.get("max") is not None else "")
    return f"{versus['name']}: {number(versus.get('median'), fig['unit'])}{spread}"


def row(fig: Figure) -> tuple[str, ...]:
    unit = fig["unit"]
    return (fig["name"], str(fig.get("runs") or "") if not fig.get("error") else "", number(fig.get("min"), unit),
            number(fig.get("median"), unit), number(fig.get("max"), unit), target_text(fig), verdict(fig),
            peer_text(fig))


def by_part(results: dict[str, Any]) -> list[tuple[dict[str, Any], list[Figure]]]:
    """Parts in run order, each with its figures."""
    figs = results.get("figures", [])
    return [(part, [f for f in figs if f["part"] == part["name"]]) for part in results.get("parts", [])]


def headline(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    load = m.get("load_avg_start")
    load_text = f", load {load[0]:.2f} at start" if load else ""
    if m.get("loop_ms_start") is not None:
        load_text += f", speed loop {m['loop_ms_start']:.0f} ms"
    scope = f" of {','.join(results['only'])}" if results.get("only") else ""
    return (f"{'quick' if results.get('quick') else 'full'} run{scope}, "
            f"{results.get('started', '?')}, {results.get('duration_s', 0) / 60:.1f} min; "
            f"{m.get('cpu_model', '?')}, {m.get('cpus', '?')} CPUs{load_text}")


def table(results: dict[str, Any], width: int = 60) -> str:
    """Plain-text table for the terminal: one block per part, columns padded to their widest cell; the peer
    column is cut at `width` characters (the JSON keeps it whole)."""
    lines: list[tuple[str, ...]] = [HEADER]
    for part, figs in by_part(results):
        lines.append((f"[{part['name']}] {part.get('title', '')}",))
        for fig in figs:
            cells = row(fig)
            peer = cells[-1] if len(cells[-1]) <= width else cells[-1][: width - 1] + "…"
            lines.append(("  " + cells[0], *cells[1:-1], peer))
    widths = [max(len(r[i]) for r in lines if len(r) > 1) for i in range(len(HEADER))]
    out = [f"Arena benchmarks: {headline(results)}"]
    for r in lines:
        if len(r) == 1:
            out.append(r[0])
            continue
        cells = [c.ljust(w) if i in (0, 5, 6, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
    failed = [f["name"] for f in results.get("figures", []) if f.get("passed") is False]
    errors = [f["name"] for f in results.get("figures", []) if f.get("error")]
    out.append(f"targets: {sum(1 for f in results.get('figures', []) if f.get('passed'))} pass, {len(failed)} FAIL"
               + (f"; {len(errors)} part{'s' if len(errors) > 1 else ''} failed to run" if errors else ""))
    return "\n".join(out)


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown(results: dict[str, Any], notes: str = "") -> str:
    """docs/benchmarks.md: how it was made, the machine, one table per part, then the hand-written notes."""
    m = results.get("machine", {})
    load = m.get("load_avg_start") or []
    out = [
        "# Benchmarks",
        "",
        f"<!-- Generated by `{COMMAND}` from bench/results/latest.json (bench/report.py). Do not edit: change",
        "     bench/ or bench/notes.md and run it again. -->",
        "",
        f"Generated by `{COMMAND}` (or `scripts/bench`) from `bench/results/latest.json`: "
        f"{'a **quick** run (fewer runs and jobs)' if results.get('quick') else 'a full run'}"
        f"{' of ' + ', '.join(results['only']) if results.get('only') else ''}, started {results.get('started', '?')}, "
        f"{results.get('duration_s', 0) / 60:.1f} min. `{COMMAND} --quick` takes a few minutes, "
        f"`--only NAME,...` runs some parts. Tests never assert times.",
        "",
        "Each figure shows min / median / max over its runs; a target is checked on the median unless it names "
        "another statistic; a peer is the same measurement of another tool, taken in the same run "
        "(interleaved run by run where both are commands).",
        "",
        "## Machine",
        "",
        "| CPU | CPUs | memory | OS | Python | torch | load average at start (1, 5, 15 min) |",
        "|---|---|---|---|---|---|---|",
        f"| {m.get('cpu_model', '?')} | {m.get('cpus', '?')} | {number(m.get('memory_gib'), 'GiB')} | "
        f"{m.get('os', '?')} | {m.get('python', '?')} | {m.get('torch', '?')} | "
        f"{' / '.join(f'{x:.2f}' for x in load) or '?'} |",
        "",
    ]
    end = m.get("load_avg_end")
    out += [f"Arena {m.get('arena', '?')}" + (f" at commit `{m['commit']}`" if m.get("commit") else "")
            + (f"; load average at the end {' / '.join(f'{x:.2f}' for x in end)}" if end else "") + ".", ""]
    if m.get("loop_ms_start") is not None:
        end_loop = m.get("loop_ms_end")
        out += [f"The machine's speed: one fixed pure-Python loop (a million additions, best of 3) took "
                f"{m['loop_ms_start']:.0f} ms at the start" + (f" and {end_loop:.0f} ms at the end" if end_loop else "")
                + ". On a shared host the speed changes by hours (2-4 times on this project's VM); compare runs "
                "only at similar values.", ""]
    if load and m.get("cpus") and load[0] > m["cpus"]:
        out += [f"**The machine was busy** (load average {load[0]:.2f} on {m['cpus']} CPUs at the start): other work "
                "shared the cores, so absolute figures are pessimistic; the ratios to peers measured in the same "
                "run hold better. Re-run on a quiet machine before reading the numbers as the project's.", ""]
    passed = sum(1 for f in results.get("figures", []) if f.get("passed"))
    judged = sum(1 for f in results.get("figures", []) if f.get("passed") is not None)
    out += [f"**Targets met: {passed} of {judged}.**", "", "## Results", ""]
    for part, figs in by_part(results):
        out += [f"### {part.get('title', part['name'])} (`--only {part['name']}`)", ""]
        if part.get("about"):
            out += [part["about"], ""]
        out += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        out += ["| " + " | ".join(_md(c) for c in row(f)) + " |" for f in figs]
        notes_here = [f"- {f['name']}: {f['note']}" for f in figs if f.get("note")]
        out += ["", *notes_here, ""] if notes_here else [""]
    if notes.strip():
        out += [notes.strip(), ""]
    return "\n".join(out)


def write_docs(results: dict[str, Any], path: Path, notes_path: Path | None = None) -> None:
    notes = notes_path.read_text() if notes_path and notes_path.is_file() else ""
    path.write_text(markdown(results, notes))
