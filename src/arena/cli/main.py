"""`arena` entry point. Only the invoked command's module is imported and parsed."""
from __future__ import annotations

import sys
from importlib import import_module

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    import argparse

# command -> (module under arena.cli, aliases, one-line help)
COMMANDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "submit": ("submit", (), "submit a training job (pytorchjob, tfjob, mpijob, volcanojob, appwrapperjob)"),
    "serve": ("serve", (), "serve models: custom, tensorflow, triton, kserve; list, get, delete, logs, update, "
                           "traffic-split"),
    "list": ("jobs", ("ls",), "list training jobs"),
    "get": ("jobs", (), "show a training job, its instances and events"),
    "logs": ("jobs", ("log",), "print the logs of a job's instance (the chief by default)"),
    "delete": ("jobs", ("del",), "delete jobs and stop their replicas"),
    "prune": ("jobs", (), "delete finished jobs older than --since"),
    "top": ("top", (), "show GPU, CPU and memory use of the node, jobs and queues"),
    "queue": ("queue", (), "manage queues: create, list, get, update, delete, open, close"),
    "data": ("data", (), "manage data volumes for -d NAME:/mount/path"),
    "attach": ("attach", (), "run a shell (or -- COMMAND) where a job's instance runs: its pod, or locally its "
                             "environment and directory"),
    "logviewer": ("jobs", (), "print the TensorBoard URL of a job"),
    "check": ("check", (), "show which operator CRDs the cluster serves and which job types can run"),
    "daemon": ("daemon", (), "manage the local engine's daemon (start, stop, status, logs)"),
    "whoami": ("whoami", (), "print the current user as upstream does: {Name, Id, IsAdminUser}"),
    "version": ("version", (), "print the version"),
    "completion": ("completion", (), "print a shell completion script (bash, zsh, fish)"),
}
_ALIASES = {a: c for c, (_, aliases, _) in COMMANDS.items() for a in (c, *aliases)}

USAGE = """arena: run distributed training jobs as if on one machine.

Usage: arena COMMAND [flags]

Commands:
{commands}

Global flags (anywhere on the line): -n/--namespace, --engine local|kubernetes, --config KUBECONFIG,
  --context, --arena-namespace, --loglevel debug|info|warn|error, --pprof
Run 'arena COMMAND --help' for a command's flags.
"""


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = [f"  {c.ljust(width)}   {h}" for c, (_, _, h) in COMMANDS.items()]
    return USAGE.format(commands="\n".join(lines))


def build_parser(only: str | None = None, argv: list[str] | None = None):  # type: ignore[no-untyped-def]
    """The root parser with every command (for completion) or just `only` (argv lets it prune further)."""
    from arena.cli import parser as parser_mod
    from arena.cli.parser import Parser

    parser_mod.ARGV = argv
    root = Parser(prog="arena", description="Run distributed training jobs as if on one machine.")
    sub = root.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, aliases, help_) in COMMANDS.items():
        if only is not None and name != only:
            continue
        import_module(f"arena.cli.{module}").register(sub, name, aliases, help_)
    return root


def _command_name(argv: list[str]) -> str | None:
    for tok in argv:
        if tok == "--":
            return None
        if not tok.startswith("-"):
            return tok
    return None


def entry() -> int:
    """The `arena` program (`main` is the same without these process settings, for callers in a longer process).

    A command is a short process that allocates thousands of containers and frees them by reference counts:
    the cyclic collector's passes over every module object (dozens while a long list is read) are a tenth of a
    list's time, and so is the full pass the interpreter makes at exit. So collect rarely while the command
    runs, and freeze what is left once it is done. Long-running commands (`logs -f`, `--wait`) still collect,
    every 50,000 allocations instead of every 700."""
    import gc

    gc.set_threshold(50_000, 10, 10)
    try:
        return main()
    finally:
        gc.freeze()


def main(argv: list[str] | None = None) -> int:
    from arena.cli.globalflags import GlobalFlagError, split

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, given = split(argv)  # upstream's persistent flags, wherever they stand
    except GlobalFlagError as exc:
        sys.stderr.write(f"arena: error: {exc}\n")
        return 2
    name = _command_name(argv)
    if name is None:
        if not argv or argv[0] in ("-h", "--help"):
            sys.stdout.write(_usage())
            return 0
        if argv[0] in ("-v", "--version"):
            from arena import __version__

            print(f"arena version v{__version__}")
            return 0
    command = _ALIASES.get(name or "")
    if command is None:
        sys.stderr.write(f"arena: error: unknown command {name!r}; run 'arena --help' for the list\n" if name
                         else "arena: error: a command is required; run 'arena --help'\n")
        return 2
    if command == "list":  # a plain list is answered without the parser (`quick`)
        from arena.cli.quick import list_jobs

        code = list_jobs(argv, given)
        if code is not None:
            return code
    if given.get("pprof"):
        return _profiled(command, argv, given)
    return _run(command, argv, given)


def parse(command: str, argv: list[str], given: dict) -> argparse.Namespace:
    """The parsed command line: `argv` (the global flags already taken out by `globalflags.split`) through
    the command's parser, with the global flags put back wherever they stood."""
    args = build_parser(command, argv).parse_args(argv)
    for dest, value in given.items():
        setattr(args, dest, value)
    return args


def _run(command: str, argv: list[str], given: dict) -> int:
    """Parse `argv` (the global flags already taken out), put the global flags back, run the command."""
    from arena.cli.globalflags import apply
    from arena.cli.parser import UsageError
    from arena.errors import ArenaError

    try:
        apply(given)
        args = parse(command, argv, given)
        return int(args.func(args) or 0)
    except UsageError as exc:
        sys.stderr.write(f"arena: error: {str(exc).removeprefix('arena: ')}\n")
        return 2
    except ArenaError as exc:
        sys.stderr.write(f"arena: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _profiled(command: str, argv: list[str], given: dict) -> int:
    """--pprof: upstream writes a CPU profile to /tmp/cpu_profile; this writes Python's (pstats format)."""
    import cProfile

    profile = cProfile.Profile()
    try:
        return profile.runcall(_run, command, argv, given)
    finally:
        profile.dump_stats("/tmp/cpu_profile")


if __name__ == "__main__":
    sys.exit(entry())
