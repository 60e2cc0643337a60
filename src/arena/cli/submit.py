"""`arena submit [KIND]`: flags as upstream Arena spells them (or a job file), turned into a JobSpec.

    arena submit KIND [flags] COMMAND...       the flags, through each one's declared mapping, into a JobSpec
    arena submit [KIND] -f job.yaml [flags]    the file, with the flags given explicitly on top

The parser of each kind is generated from its flag declarations in the registry (`arena.kinds`), and only
the invoked kind's is built. The spec modules and the job-file module are imported only when `run` needs them.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from arena import kinds as registry
from arena.cli.parser import Parser, RawDescriptionHelpFormatter, UsageError, add_global, info

if TYPE_CHECKING:
    from arena.kinds.base import Kind
    from arena.kinds.flags import Flag

# pflag's spellings of a boolean's value: --use-svc-plugin=false
_BOOL_WORDS = {"true": True, "True": True, "TRUE": True, "1": True, "false": False, "False": False, "FALSE": False,
               "0": False}


# ---------------------------------------------------------------------------------------------------
# The parser, generated from the flag declarations. Defaults are None/[]/False so that
# `jobfile.explicit_flags` sees exactly what was typed; each flag's documented default is in its help.

def add_flag(p: argparse.ArgumentParser, flag: Flag) -> None:
    """One declared flag as argparse options (upstream spelling, aliases, the deprecated camelCase)."""
    if flag.positional:
        p.add_argument(flag.dest, nargs="*", help=flag.help_text)
    elif flag.switch:
        p.add_argument(*flag.spellings, dest=flag.dest, action="store_true", help=flag.help_text)
    elif flag.tri_state:  # unset (None), --flag, --no-flag, --flag=false
        p.add_argument(*flag.spellings, dest=flag.dest, action="store_const", const=True, default=None,
                       help=flag.help_text)
        p.add_argument(f"--no-{flag.name.removeprefix('--')}", dest=flag.dest, action="store_const", const=False,
                       help=argparse.SUPPRESS)
        for word, value in _BOOL_WORDS.items():
            p.add_argument(f"{flag.name}={word}", dest=flag.dest, action="store_const", const=value,
                           help=argparse.SUPPRESS)
    else:
        kw: dict[str, Any] = {"dest": flag.dest, "help": flag.help_text, "metavar": flag.metavar}
        if flag.type in (int, float):
            kw["type"] = flag.type
        if flag.choices:
            kw["choices"] = flag.choices
        if flag.repeat:
            kw.update(action="append", default=[])
        elif flag.bare is not None:  # upstream's bool spelling: the flag alone means `flag.bare`
            kw.update(nargs="?", const=flag.bare)
        p.add_argument(*flag.spellings, **kw)


_KIND_NAMES = {alias: entry.name for entry in registry.all() for alias in entry.names}


# ---------------------------------------------------------------------------------------------------
# `arena submit -f job.yaml`: the kind comes from the file

class _SubmitParser(Parser):
    """`arena submit` itself: puts the file's kind first when `-f` is given without one."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        if args is None:
            return super().parse_known_args(args, namespace)
        tokens, doc = _with_kind(list(args))
        if doc is not None:  # the file read for its kind: `build_spec` reuses it rather than parse it again
            namespace = namespace if namespace is not None else argparse.Namespace()
            namespace._file_doc = doc
        return super().parse_known_args(tokens, namespace)


def _file_arg(tokens: list[str]) -> str | None:
    """The value of -f/--file in `tokens`, if any."""
    for i, tok in enumerate(tokens):
        if tok == "--":
            return None
        if tok in ("-f", "--file"):
            return tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.startswith("--file="):
            return tok.removeprefix("--file=")
        if tok.startswith("-f") and not tok.startswith("--") and len(tok) > 2:
            return tok[2:]
    return None


def _with_kind(tokens: list[str]) -> tuple[list[str], dict[str, Any] | None]:
    """`tokens` with the kind first, and the job file's document when it had to be read for its kind."""
    if not tokens or tokens[0] in _KIND_NAMES or tokens[0] in ("-h", "--help"):
        return tokens, None
    path = _file_arg(tokens)
    if path is None:
        if tokens[0].startswith("-"):
            raise UsageError(f"arena submit: a job kind comes first ({', '.join(registry.names())}), or give -f FILE")
        return tokens, None  # argparse reports the unknown kind
    # `-f FILE KIND ...`: the kind given after the file
    width = 2 if tokens[0] in ("-f", "--file") else 1
    if len(tokens) > width and tokens[width] in _KIND_NAMES:
        return [tokens[width], *tokens[:width], *tokens[width + 1:]], None
    from arena.errors import InvalidSpec
    from arena.spec import jobfile

    doc = jobfile.load(path)
    kind = doc.get("kind")
    if not kind:
        raise InvalidSpec("kind", f"{path} has no kind: add one, or name it: arena submit KIND -f {path}")
    return [registry.canonical(str(kind), "kind"), *tokens], doc


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_,
                       formatter_class=RawDescriptionHelpFormatter,
                       epilog="  arena submit KIND [flags] COMMAND...\n"
                              "  arena submit [KIND] -f FILE [flags] [COMMAND...]  (the kind comes from the file)")
    if isinstance(p, Parser):
        p.__class__ = _SubmitParser
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True, parser_class=Parser)
    for entry in _wanted_kinds():
        article = "an" if entry.name[0] in "aeiou" else "a"
        kp = kinds.add_parser(entry.name, aliases=list(entry.aliases), help=f"submit {article} {entry.name}")
        for flag in entry.flags:
            if flag.scope != "global":  # -n and the other global flags: add_global
                add_flag(kp, flag)
        add_global(kp)
        kp.set_defaults(func=run, kind_name=entry.name, _parser=kp)


def _wanted_kinds() -> list[Kind]:
    """Only the kind named on the command line (start-up time); every kind for -f, help or completion."""
    from arena.cli import parser as parser_mod

    argv = parser_mod.ARGV or []
    words = [w for w in argv if not w.startswith("-")]
    if "submit" in words[:1] and len(words) > 1 and not any(w in ("-f", "--file") or w.startswith("--file=")
                                                             for w in argv):
        kind = _KIND_NAMES.get(words[1])
        if kind is not None:
            return [registry.get(kind)]
    return registry.all()


# ---------------------------------------------------------------------------------------------------
# Building and submitting

def build_spec(args: argparse.Namespace, namespace: str) -> Any:
    """The JobSpec from the flags typed, through the kind's declared mappings, on top of -f's file if any.

    `run` has already required --name when there is no file."""
    from arena.spec import jobfile

    defaults = vars(args._parser.parse_args([]))
    flags = jobfile.explicit_flags(vars(args), defaults)  # command-only and _private values are skipped
    document = None
    if args.file:
        document = getattr(args, "_file_doc", None)  # already read by `_with_kind` when -f gave the kind
        document = dict(document) if document is not None else jobfile.load(args.file)
    return registry.get(args.kind_name).spec_from_options(flags, namespace=namespace, document=document)


def _live(view: Any) -> None:
    running = sum(1 for i in view.instances if i.status == "Running")
    line = f"{view.name}: {view.status} ({view.phase}) {running}/{len(view.instances)} replicas running"
    if view.reason and view.status in ("QUEUING", "PENDING"):
        line += f" - {view.reason}"
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + line)
        if view.status in ("SUCCEEDED", "FAILED"):
            sys.stderr.write("\n")
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from arena.cli.context import client_for
    from arena.errors import InvalidSpec

    if not args.file and not args.name:
        raise InvalidSpec("--name", "is required")  # before anything else is set up
    client = client_for(args)
    spec = build_spec(args, client.namespace)
    if args.dry_run:
        fmt = args.output if args.output in ("json", "yaml") else "yaml"
        print(client.plan(spec).text(fmt), end="")  # exactly what submit would apply
        return 0
    if spec.image and client.engine_name == "local":
        _notice_image_once(client.home)
    view = client.submit(spec)
    if args.output == "name":
        print(f"{spec.kind}/{view.name}")
    else:
        print(f"{spec.kind}/{view.name} created")
        info(f"The Job {view.name} has been submitted successfully")
        info(f"You can run `arena get {view.name} --type {spec.kind} -n {view.namespace}` to check the job status")
    if not args.wait:
        return 0
    final = client.wait(view.name, view.namespace, timeout=args.wait_timeout, on_change=_live)
    return 0 if final.status == "SUCCEEDED" else 1


def _notice_image_once(home: Any) -> None:
    marker = home / ".image-notice-shown"
    if marker.exists():
        return
    info("--image is recorded for the kubernetes engine; the local engine runs the command in this "
         "environment (shown once)")
    try:
        home.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
