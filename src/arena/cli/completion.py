"""`arena completion bash|zsh|fish`: static scripts generated from the full parser."""
from __future__ import annotations

import argparse


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    p.add_argument("shell", choices=("bash", "zsh", "fish"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arena.cli.main import build_parser

    parser = build_parser()
    if args.shell == "fish":
        print(_fish(parser))
        return 0
    import shtab

    print(shtab.complete(parser, shell=args.shell))
    return 0


def _fish(parser: argparse.ArgumentParser) -> str:
    """shtab has no fish output: commands and each command's long flags."""
    lines = ["complete -c arena -f"]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        lines.append(f"complete -c arena -n '__fish_use_subcommand' -a {name}")
        for action in p._actions:
            for opt in action.option_strings:
                if opt.startswith("--"):
                    lines.append(f"complete -c arena -n '__fish_seen_subcommand_from {name}' -l {opt[2:]}")
    return "\n".join(lines)
