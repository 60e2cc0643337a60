"""Engines behind the one Arena interface: `local` (default) and `kubernetes`."""
