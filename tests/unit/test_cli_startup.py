"""Start-up trims in the CLI must not change behaviour: they only change what gets imported."""
from __future__ import annotations

import subprocess
import sys

import pytest

from arena.cli.parser import Parser, RawDescriptionHelpFormatter, _terminal_columns


def _run(code: str, env_extra: dict[str, str] | None = None) -> str:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=env).stdout.strip()


def test_no_module_patches_sys_modules() -> None:
    """Start-up is won by cutting imports, never by hiding modules from the libraries that want them."""
    import re
    from pathlib import Path

    import arena

    patched = [f"{p}:{n}" for p in Path(arena.__file__).parent.rglob("*.py")
               for n, line in enumerate(p.read_text().splitlines(), 1)
               if re.search(r"sys\.modules\[[^]]+\]\s*=|sys\.modules\.(pop|setdefault|update)\(|del sys\.modules", line)]
    assert patched == []


def test_cli_start_does_not_import_shutil_for_the_help_width() -> None:
    out = _run(
        "import sys\n"
        "from arena.cli.main import build_parser\n"
        "build_parser('submit', ['submit', 'pytorchjob'])\n"
        "print('shutil' in sys.modules)\n"
    )
    assert out == "False"


@pytest.mark.parametrize(("columns", "expected"), [("120", 120), ("0", 80), ("junk", 80)])
def test_terminal_columns_follow_COLUMNS(monkeypatch: pytest.MonkeyPatch, columns: str, expected: int) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    if expected == 80:
        # Not a terminal under pytest's capture: the fallback applies.
        monkeypatch.setattr("os.get_terminal_size", lambda fd: (_ for _ in ()).throw(OSError()))
    assert _terminal_columns() == expected


def test_help_wraps_at_COLUMNS(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    p = Parser(prog="x", formatter_class=RawDescriptionHelpFormatter, description="line one\nline two")
    p.add_argument("--flag", help="a help text long enough that it has to wrap at forty columns")
    text = p.format_help()
    assert "line one\nline two" in text
    assert max(len(line) for line in text.splitlines()) <= 40


def test_flags_alone_read_no_yaml_and_declare_flags_cheaply() -> None:
    """Flags go through the job document too, but nothing loads PyYAML unless a file is read, and the flag
    declarations are plain classes (`dataclasses` would import `inspect`)."""
    out = _run(
        "import sys\n"
        "from arena.cli.main import build_parser\n"
        "argv = ['submit', 'tf', '--name', 'x', '--workers', '2', 'true']\n"
        "args = build_parser('submit', argv).parse_args(argv)\n"
        "from arena.cli import submit\n"
        "spec = submit.build_spec(args, 'default')\n"
        "print(spec.kind, spec.workers, 'yaml' in sys.modules, 'dataclasses' in sys.modules)\n"
    )
    assert out == "tfjob 2 False False"
