"""The command line: argument parsing and wiring only (the composition root)."""
