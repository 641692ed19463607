"""``python -m shipyard`` runs the CLI (its entry point: the hot commands' fast path, else Typer)."""

from shipyard.cli.hot import main

main()
