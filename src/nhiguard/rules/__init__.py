"""Rules as data: the loader, the linter and the built-in rule files."""
