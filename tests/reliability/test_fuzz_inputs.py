"""Fuzzing of what a user types: `arena submit` argument vectors and job files.

The only outcomes allowed are success or one line naming the flag or field (exit 2): never a
traceback, never another exit code. Both run in-process with `--dry-run` (plans are pure), so
nothing is stored and no daemon starts; the raw API bodies are fuzzed in `test_door.py`.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena import kinds
from arena.cli.main import main
from arena.errors import InvalidSpec
from arena.spec import jobfile

# Values a hostile or careless user types, next to plausible ones.
_NASTY = ["", " ", "-1", "0", "1", "2", "1e309", "nan", "inf", "-inf", "1.5", "999999999999999999999", "abc",
          "k=v", "a:b", "/../../tmp/x", "../x", "a/b", "Bad_Name", "\x00", "é", "2Gi", "500m", "1h", "-1h",
          "true", "false", "worker:2", "ps:1:500m:1Gi:1=python t.py", "=", ":", "x" * 300]
HANG_MS = 10_000  # an example taking longer counts as a hang (hypothesis fails it)
_VALUE = st.one_of(st.sampled_from(_NASTY), st.text(max_size=12))


def _flags() -> list[tuple[str, str]]:
    """(kind, spelling) of every flag of every kind, from the registry."""
    out = []
    for kind in kinds.all():
        for flag in kind.flags:
            if flag.positional or flag.scope != "job":
                continue
            for spelling in flag.spellings:
                if spelling.startswith("-") and "=" not in spelling:
                    out.append((kind.name, spelling))
    return out


_FLAGS = _flags()


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from([k.name for k in kinds.all()]))
    spellings = [s for k, s in _FLAGS if k == kind]
    argv = ["submit", kind]
    if draw(st.booleans()):
        argv += ["--name", draw(st.sampled_from(["ok", "Bad_Name", "a" * 60, "", "../x"]))]
    for _ in range(draw(st.integers(0, 5))):
        argv.append(draw(st.sampled_from(spellings)))
        if draw(st.integers(0, 4)):
            argv.append(draw(_VALUE))
    argv += ["--dry-run", "-o", "json"]
    if draw(st.booleans()):
        argv.append(draw(st.sampled_from(["python train.py", "true", ""])))
    return argv


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


@settings(max_examples=300, deadline=HANG_MS, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(argv=argvs())
def test_submit_arguments_succeed_or_fail_in_one_line(argv: list[str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARENA_ENGINE", "local")
    code, err = _run(argv)
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = [ln for ln in err.split("\n") if ln.strip() and not ln.startswith("usage:")
                 and not ln.startswith("  ")]
        assert len(lines) == 1 and lines[0].startswith("arena"), (argv, err)
    assert not (tmp_path / "home" / "arena.db").exists(), "a dry run stored something"


_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.sampled_from(_NASTY))
_KEYS = st.sampled_from(_NASTY + ["name", "cpu"])
_DOC_VALUE = st.one_of(_SCALAR, st.lists(_SCALAR, max_size=3), st.dictionaries(_KEYS, _SCALAR, max_size=3),
                       st.dictionaries(_KEYS, st.lists(_SCALAR, max_size=2), max_size=2))
_TASK = st.fixed_dictionaries({"name": st.sampled_from(["master", "worker", "ps", "chief", "launcher", "x", "Bad"])},
                              optional={"replicas": _DOC_VALUE, "command": _DOC_VALUE, "resources": _DOC_VALUE,
                                        "envs": _DOC_VALUE, "port": _DOC_VALUE, "policies": _DOC_VALUE,
                                        "depends_on": _DOC_VALUE, "restart_policy": _DOC_VALUE})


@st.composite
def job_files(draw: st.DrawFn) -> str:
    doc = draw(st.fixed_dictionaries(
        {"kind": st.sampled_from([*kinds.names(), "nope", "py", "TF"])},
        optional={"name": st.sampled_from(["ok", "Bad_Name", "", "a" * 60]), "tasks": st.lists(_TASK, max_size=4),
                  "roles": st.lists(_TASK, max_size=2), "command": _DOC_VALUE, "scheduling": _DOC_VALUE,
                  "run_policy": _DOC_VALUE, "options": _DOC_VALUE, "tensorboard": _DOC_VALUE, "data": _DOC_VALUE,
                  "sync": _DOC_VALUE, "version": _DOC_VALUE, "extra": _DOC_VALUE}))
    text = yaml.safe_dump(doc)
    if draw(st.integers(0, 9)) == 0:  # sometimes not even YAML
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["[", "{", ": :", "\t", "*a", "!!python/object:os.system"]))
    return text


@settings(max_examples=400, deadline=HANG_MS)
@given(text=job_files())
def test_job_files_become_a_spec_or_one_error_naming_a_field(text: str) -> None:
    try:
        spec = jobfile.to_spec(jobfile.loads(text))
    except InvalidSpec as err:
        assert err.field and "\n" not in str(err), (text, str(err))
    else:
        assert spec.name and spec.tasks
