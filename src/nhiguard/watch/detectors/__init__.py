"""The detectors `nhiguard watch` runs, each a module with `DETECTOR` and `check(ctx)`."""

from __future__ import annotations

from types import ModuleType


def all_detectors() -> list[ModuleType]:
    from nhiguard.watch.detectors import (
        concurrent,
        credentials,
        desktop_use,
        enumeration,
        evasion,
        exposure,
        leaked_use,
        new_location,
        new_service,
        permissions,
        release_window,
        travel,
        volume,
    )

    return [leaked_use, new_location, travel, concurrent, desktop_use, enumeration, volume, permissions, credentials,
            release_window, evasion, exposure, new_service]
