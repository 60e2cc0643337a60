"""`arena submit -f` plumbing: flags merged into a job file (tri-state flags, command-only flags), the
file read once, and the shared output formats of cli.output."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from arena.cli import main as cli_main
from arena.cli import output, submit, top
from arena.errors import InvalidSpec
from arena.spec import jobfile

AW_VOLCANO = ("kind: appwrapperjob\nname: aw\ncommand: echo hi\noptions: {inner_type: volcano}\n"
              "tasks: [{name: worker, replicas: 2}]\n")
PY = "kind: pytorchjob\nname: p\ncommand: c\ntasks: [{name: master}]\nscheduling: {gang: true}\n"


def test_merge_keeps_use_svc_plugin_false() -> None:
    doc = jobfile.merge(jobfile.loads(AW_VOLCANO), {"use_svc_plugin": False})
    assert doc["options"]["use_svc_plugin"] is False
    assert jobfile.to_spec(doc).options.use_svc_plugin is False


def test_merge_use_svc_plugin_false_overrides_the_file() -> None:
    text = AW_VOLCANO.replace("{inner_type: volcano}", "{inner_type: volcano, use_svc_plugin: true}")
    assert jobfile.merge(jobfile.loads(text), {"use_svc_plugin": False})["options"]["use_svc_plugin"] is False
    assert "use_svc_plugin" not in jobfile.merge(jobfile.loads(AW_VOLCANO), {"use_svc_plugin": None})["options"]


def test_merge_other_false_flags_stay_not_given() -> None:
    assert jobfile.merge(jobfile.loads(PY), {"gang": False, "tensorboard": False})["scheduling"]["gang"] is True


@pytest.mark.parametrize("flag, value", [("wait_timeout", 5.0), ("context", "kind-x"), ("output", "yaml"),
                                         ("dry_run", True), ("file", "job.yaml"), ("engine", "local")])
def test_merge_ignores_command_only_flags(flag: str, value: object) -> None:
    assert jobfile.merge(jobfile.loads(PY), {flag: value}) == jobfile.loads(PY)


def test_image_pull_policy_reaches_the_spec() -> None:
    assert jobfile.merge(jobfile.loads(PY), {"image_pull_policy": "Never"})["image_pull_policy"] == "Never"
    assert jobfile.to_spec(jobfile.loads(PY + "image_pull_policy: IfNotPresent\n")).image_pull_policy == "IfNotPresent"
    assert jobfile.to_spec(jobfile.loads(PY)).image_pull_policy is None  # not given: the engine's default (Always)
    with pytest.raises(InvalidSpec, match="must be one of Always, IfNotPresent, Never") as err:
        jobfile.merge(jobfile.loads(PY), {"image_pull_policy": "Sometimes"})
    assert err.value.field == "--image-pull-policy"
    with pytest.raises(InvalidSpec) as err:
        jobfile.to_spec(jobfile.loads(PY + "image_pull_policy: sometimes\n"))
    assert err.value.field == "image_pull_policy"


def test_merge_env_error_is_split_pairs() -> None:
    with pytest.raises(InvalidSpec) as err:
        jobfile.merge(jobfile.loads(PY), {"env": ["NOEQUALS"]})
    assert (err.value.field, err.value.rule) == ("--env", "'NOEQUALS' must be KEY=VALUE")
    assert jobfile.merge(jobfile.loads(PY), {"env": ["A=b=c"]})["envs"] == {"A": "b=c"}


def _args(argv: list[str]):  # type: ignore[no-untyped-def]
    return cli_main.build_parser("submit", argv).parse_args(argv)


def test_submit_file_without_kind_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "aw.yaml"
    path.write_text(AW_VOLCANO)
    reads: list[str] = []
    real = jobfile.load
    monkeypatch.setattr(jobfile, "load", lambda p: reads.append(p) or real(p))
    args = _args(["submit", "-f", str(path), "--use-svc-plugin=false", "--dry-run"])
    spec = submit.build_spec(args, "default")
    assert reads == [str(path)]
    assert spec.kind == "appwrapperjob" and spec.options.use_svc_plugin is False
    assert (spec.scheduling.min_available, spec.scheduling.scheduler_name) == (2, "volcano")


def test_submit_file_with_kind_reads_it_in_build_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "aw.yaml"
    path.write_text(AW_VOLCANO)
    reads: list[str] = []
    real = jobfile.load
    monkeypatch.setattr(jobfile, "load", lambda p: reads.append(p) or real(p))
    args = _args(["submit", "appwrapperjob", "-f", str(path), "--wait-timeout", "3", "--image-pull-policy",
                  "Never", "echo", "bye"])
    spec = submit.build_spec(args, "ns")
    assert reads == [str(path)]
    assert (spec.namespace, spec.tasks[0].command, spec.options.use_svc_plugin) == ("ns", "echo bye", True)
    assert spec.image_pull_policy == "Never"


def test_emit_formats() -> None:
    out = io.StringIO()
    assert output.emit([{"a": 1}], "json", out=out) and json.loads(out.getvalue()) == [{"a": 1}]
    out = io.StringIO()
    assert output.emit([{"n": "x"}, {"n": "y"}], "name", name=lambda d: f"k/{d['n']}", out=out)
    assert out.getvalue() == "k/x\nk/y\n"
    out = io.StringIO()
    assert output.emit({"n": "z"}, "name", name=lambda d: f"k/{d['n']}", out=out) and out.getvalue() == "k/z\n"
    assert not output.emit([], "name") and not output.emit([], "wide") and not output.emit([], None)


def test_top_gpu_helpers(capsys: pytest.CaptureFixture[str]) -> None:
    top._print_cluster_gpus(0, 0)
    top._print_cluster_gpus(1, 3)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:3] == ["Allocated/Total GPUs In Cluster:", "0/0 (0.0%)"] and lines[-1] == "1/3 (33.3%)"
    assert top._gpu_memory({"memory_used": 2**29, "memory_total": 2**30}) == "512.0/1024.0(MiB)"
