"""The inventory store: schema, migrations, the single writer and its typed queries.

`Store.open(path_or_url)` opens an SQLite file (the default) or a PostgreSQL database and
migrates it to the newest schema. See `store.store` for the API and `store.schema` for the
tables. The store never holds a raw secret: only keyed fingerprints and redacted previews.
"""

from typing import Any

from nhiguard.store.database import StoreError
from nhiguard.store.ids import finding_id
from nhiguard.store.store import STATUSES, FindingRecord, Store, iso

__all__ = [
    "STATUSES",
    "FindingRecord",
    "Store",
    "StoreError",
    "finding_id",
    "iso",
    "metadata",
]


def __getattr__(name: str) -> Any:
    # The schema is SQLAlchemy metadata, needed only to create or migrate a store: importing
    # it on every start would cost as much as a rescan.
    if name == "metadata":
        from nhiguard.store.schema import metadata

        return metadata
    raise AttributeError(name)
