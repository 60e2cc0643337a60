"""Upstream's persistent flags are accepted wherever cobra accepts them: before the command, between
`submit` and the kind, after the job name, in `--flag=value` and `--flag value` form, up to `--`."""
from __future__ import annotations

import argparse
import re

import pytest

from arena.cli import globalflags
from arena.cli.globalflags import GlobalFlagError, split
from arena.cli.main import _ALIASES, _command_name, parse

SDK_TAIL = ["--config=/tmp/kc", "--namespace=team", "--arena-namespace=arena-sys", "--loglevel=warn"]


def parsed(*argv: str) -> argparse.Namespace:
    """The command line as `arena` parses it, without running it."""
    rest, given = split(list(argv))
    return parse(_ALIASES[_command_name(rest) or ""], rest, given)


def globals_of(args: argparse.Namespace) -> tuple:
    return args.namespace, args.config, args.arena_namespace, args.loglevel


@pytest.mark.parametrize("argv", [
    # upstream's SDK: the global flags right after the command words, before the kind
    ["submit", *SDK_TAIL, "pytorchjob", "--name=x", "python t.py"],
    # before the command
    [*SDK_TAIL, "submit", "pytorchjob", "--name=x", "python t.py"],
    # after the kind, after the command string, split across places, space-separated values
    ["submit", "pytorchjob", "--name=x", *SDK_TAIL, "python t.py"],
    ["submit", "pytorchjob", "--name=x", "python t.py", *SDK_TAIL],
    ["--config", "/tmp/kc", "submit", "-n", "team", "pytorchjob", "--arena-namespace", "arena-sys", "--name=x",
     "python t.py", "--loglevel", "warn"],
    ["submit", "-nteam", "--config=/tmp/kc", "pytorchjob", "--name=x", "--arena-namespace=arena-sys",
     "--loglevel=warn", "python t.py"],
])
def test_submit_takes_global_flags_anywhere(argv: list[str]) -> None:
    args = parsed(*argv)
    assert (args.kind_name, args.name, args.command) == ("pytorchjob", "x", ["python t.py"])
    assert globals_of(args) == ("team", "/tmp/kc", "arena-sys", "warn")


@pytest.mark.parametrize("command", [["get", "job"], ["delete", "job"], ["logs", "job"], ["logviewer", "job"],
                                     ["list"], ["prune", "--since=1h"], ["top", "job"], ["top", "node"],
                                     ["queue", "list"], ["data", "list"], ["attach", "job"], ["whoami"]])
@pytest.mark.parametrize("where", ["before", "middle", "after"])
def test_every_command_takes_global_flags_in_every_position(command: list[str], where: str) -> None:
    if where == "before":
        argv = [*SDK_TAIL, *command]
    elif where == "middle":
        argv = [command[0], *SDK_TAIL, *command[1:]]
    else:
        argv = [*command, *SDK_TAIL]
    assert globals_of(parsed(*argv)) == ("team", "/tmp/kc", "arena-sys", "warn")


def test_upstream_sdk_logs_line() -> None:
    """`Instance.get_logs`: `arena logs JOB -T=TYPE --tail=N -i=POD --config=… --namespace=NS …`."""
    args = parsed("logs", "job", "-T=pytorchjob", "--tail=10", "-i=job-master-0", "--namespace=team",
                  "--arena-namespace=arena-system")
    assert (args.job, args.type, args.tail, args.instance, args.namespace) == \
        ("job", "pytorchjob", 10, "job-master-0", "team")


def test_defaults_without_global_flags() -> None:
    args = parsed("get", "job")
    assert globals_of(args) == (None, None, "arena-system", "info")
    assert (args.engine, args.context, args.pprof) == (None, None, False)


def test_last_occurrence_wins_and_empty_value_is_unset() -> None:
    args = parsed("get", "-n", "a", "job", "--namespace=b", "--config=")
    assert (args.namespace, args.config) == ("b", None)


def test_after_double_dash_nothing_is_a_global_flag() -> None:
    """cobra stops at `--`: the attached command keeps its own `-n` and `--config`."""
    args = parsed("attach", "job", "-n", "team", "--", "ls", "-n", "--config=x")
    assert (args.namespace, args.command) == ("team", ["ls", "-n", "--config=x"])


def test_engine_and_context_anywhere() -> None:
    args = parsed("list", "-o", "json", "--engine=kubernetes", "--context", "prod")
    assert (args.engine, args.context, args.output) == ("kubernetes", "prod", "json")


@pytest.mark.parametrize(("argv", "message"), [
    (["get", "x", "--loglevel"], "--loglevel: needs a value"),
    (["get", "x", "--loglevel=verbose"], "--loglevel: 'verbose' must be one of debug, info, warn, warning, error"),
    (["list", "--engine", "cloud"], "--engine: 'cloud' must be one of local, kubernetes"),
    (["list", "--pprof=maybe"], "--pprof: 'maybe' is not a boolean (true or false)"),
])
def test_bad_global_flag_is_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(GlobalFlagError, match=re.escape(message)):
        split(argv)


def test_split_leaves_other_flags_alone() -> None:
    rest, given = split(["submit", "pytorchjob", "--name", "x", "-e", "A=1", "--config-file", "a:b", "--nproc-per-node",
                         "2", "--namespace=ns", "cmd"])
    assert rest == ["submit", "pytorchjob", "--name", "x", "-e", "A=1", "--config-file", "a:b", "--nproc-per-node",
                    "2", "cmd"]
    assert given == {"namespace": "ns"}


def test_loglevel_warn_silences_info_lines(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.cli import parser

    monkeypatch.setattr(parser, "LOGLEVEL", "info")
    globalflags.apply({"loglevel": "warn"})
    parser.info("hidden")
    globalflags.apply({"loglevel": "info"})
    parser.info("shown")
    assert capsys.readouterr().err == "INFO shown\n"


def test_the_registry_knows_every_global_flag() -> None:
    """A global flag is never taken for a job flag: the registry (which may not import the CLI) lists them."""
    from arena.kinds.flags import GLOBAL_DESTS

    assert globalflags.DESTS - {"namespace"} == GLOBAL_DESTS
