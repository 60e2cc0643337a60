"""`arena version`: no engine contact, so it is as fast as the interpreter allows."""
from __future__ import annotations

import argparse
import os
import sys


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    p.add_argument("--short", action="store_true", help="print just the version")
    p.add_argument("-v", "--verbose", action="store_true", help="also print Python and engine details")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arena import __version__

    if args.short:
        print(f"v{__version__}")
        return 0
    print(f"Version:    v{__version__}")
    uname = os.uname()
    print(f"Python:     {'.'.join(map(str, sys.version_info[:3]))}")
    print(f"Platform:   {uname.sysname.lower()}/{uname.machine}")
    if args.verbose:
        from arena import config

        print(f"Home:       {config.home()}")
        print(f"Engine:     {config.engine_name(None)}")
    return 0
