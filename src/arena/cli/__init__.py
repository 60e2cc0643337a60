"""Command line: argument parsing and rendering only; all work goes through `arena.client`."""
