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
    """shtab has no fish output: commands, nested subcommands and each one's long flags."""
    lines = ["complete -c arena -f"]

    def walk(p: argparse.ArgumentParser, path: list[str]) -> None:
        cond = "__fish_use_subcommand" if not path else f"__fish_seen_subcommand_from {path[-1]}"
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                names = " ".join(action.choices)
                lines.append(f"complete -c arena -n '{cond}' -a '{names}'")
                for name, child in action.choices.items():
                    walk(child, [*path, name])
            else:
                for opt in action.option_strings:
                    if opt.startswith("--") and path:
                        lines.append(f"complete -c arena -n '{cond}' -l {opt[2:]}")

    walk(parser, [])
    return "\n".join(dict.fromkeys(lines))
