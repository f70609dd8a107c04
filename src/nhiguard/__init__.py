"""nhiguard: find, inventory, judge and watch non-human identities."""

__version__ = "0.1.0"
