"""argparse with one-line errors (exit 2) and the flags every command shares."""
from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from typing import NoReturn


# The command line being parsed, when known: lets a command build only the subparser it needs.
ARGV: list[str] | None = None


class UsageError(Exception):
    """Raised instead of printing argparse's multi-line usage block."""


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, sized without `shutil`.

    argparse builds a formatter for every add_argument call, and its default imports shutil
    (which imports bz2 and lzma) only to read the terminal width: ~5 ms of every command's start.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class RawDescriptionHelpFormatter(_HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps a description's line breaks (the examples in `submit KIND --help`)."""


def _terminal_columns() -> int:
    """$COLUMNS, else the terminal's width, else 80: the order shutil.get_terminal_size uses."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # One line, whatever the user typed: a newline or other control character in an argument is escaped.
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        raise UsageError(f"{self.prog}: {text}")


def add_global(p: argparse.ArgumentParser) -> None:
    """Upstream's persistent flags, listed in every command's --help.

    `main` has already taken them out of the command line wherever they stood (`globalflags.split`);
    declaring them here gives every command their defaults and their help."""
    from arena.cli.globalflags import FLAGS

    g = p.add_argument_group("global flags (accepted anywhere on the command line)")
    for flag in FLAGS:
        if flag.takes_value:
            g.add_argument(*flag.spellings, dest=flag.dest, default=flag.default, help=flag.help,
                           choices=flag.choices or None)
        else:
            g.add_argument(*flag.spellings, dest=flag.dest, action="store_true", help=flag.help)


def add_output(p: argparse.ArgumentParser, choices: tuple[str, ...] = ("wide", "json", "yaml", "name")) -> None:
    p.add_argument("-o", "--output", choices=choices, default=None, help=f"output format: {'|'.join(choices)}")


# The --loglevel of this command (`globalflags.apply`): warn and error silence `info`.
LOGLEVEL = "info"


def info(msg: str) -> None:
    """An upstream-style INFO line on stderr (submit's "The Job x has been submitted successfully")."""
    if LOGLEVEL in ("debug", "info"):
        print(f"INFO {msg}", file=sys.stderr)
