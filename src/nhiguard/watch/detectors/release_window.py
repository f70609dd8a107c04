"""CI identities acting outside their release windows: a deployer that has only ever run
in working hours calling at 3 a.m. on a Sunday. The windows are learned per identity
(hours of the week it has been active in); an hour never seen in the learning period is
outside them."""

from __future__ import annotations

from nhiguard.model.severity import Severity
from nhiguard.watch import useragent as UA
from nhiguard.watch.detector import Context, Detector, Signal

DETECTOR = Detector("watch.outside-release-window", "CI identity outside its release window", Severity.MEDIUM,
                    ("NHI2:2025",), ("T1078.004",),
                    "pipelines deploy on a rhythm; a pipeline identity busy when no pipeline runs is someone else")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def is_ci(ctx: Context) -> bool:
    if ctx.who.ci:
        return True
    classes = ctx.profile.classes
    total = sum(classes.values())
    return total >= 20 and classes.get(UA.CI, 0) >= 0.8 * total


def _seen(week_hours: list[int], week_hour: int) -> bool:
    """Whether the identity worked at this hour (or the hour next to it) on days of the same
    kind: weekdays are one window, weekends another; a release that runs a little late is
    not an attack."""
    weekend = week_hour >= 120
    days = range(5, 7) if weekend else range(5)
    hour = week_hour % 24
    return any(week_hours[d * 24 + (hour + dh) % 24] for d in days for dh in (-1, 0, 1))


def check(ctx: Context) -> list[Signal]:
    e, p = ctx.event, ctx.profile
    if not ctx.established or not is_ci(ctx):
        return []
    week_hour = int(((e.time // 3600) + 72) % 168)  # the epoch began on a Thursday: +72 h makes Monday 00 zero
    if _seen(p.week_hours, week_hour):
        return []
    if e.time - ctx.recent.last_release_alert < 6 * 3600:
        return []
    ctx.recent.last_release_alert = e.time
    active = [i for i, n in enumerate(p.week_hours) if n]
    days = sorted({_DAYS[i // 24] for i in active}, key=_DAYS.index)
    hours = sorted({i % 24 for i in active})
    span = f"{hours[0]:02d}:00-{hours[-1] + 1:02d}:00" if hours else "never"
    return [Signal(DETECTOR, f"{e.action} on {_DAYS[week_hour // 24]} at {week_hour % 24:02d}:00 UTC",
                   f"active before on {', '.join(days)} between {span} UTC", f"hour:{week_hour}",
                   {"day": _DAYS[week_hour // 24], "hour_utc": week_hour % 24, "active_days": days,
                    "active_hours_utc": hours})]
