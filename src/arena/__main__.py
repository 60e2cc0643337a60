from arena.cli.main import entry

raise SystemExit(entry())
