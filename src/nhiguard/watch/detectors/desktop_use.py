"""Server-only credentials (instance roles, service accounts, CI identities, machine
users) used from a desktop CLI or a browser, or signing in to a console: a person holds a
machine's credential (OWASP NHI10), often a copied key on a laptop."""

from __future__ import annotations

from nhiguard.model.severity import Severity
from nhiguard.watch import useragent as UA
from nhiguard.watch.detector import Context, Detector, Signal

DETECTOR = Detector("watch.server-credential-on-desktop", "Server credential used from a desktop or browser",
                    Severity.HIGH, ("NHI10:2025", "NHI2:2025"), ("T1078.004", "T1552.001"),
                    "credentials that belong to servers and pipelines are not meant for people: a copy on a laptop "
                    "leaks with the laptop, and its use hides among the workload's")


def check(ctx: Context) -> list[Signal]:
    e, p, who = ctx.event, ctx.profile, ctx.who
    # sure from the start: the inventory or the session says it is a server's; a machine
    # identity otherwise (a role's session, a machine user's key) once its baseline shows
    # that only programs have used it
    server = who.server_only or (e.nonhuman is True and e.identity_type in ("serviceaccount", "app"))
    machine = server or e.nonhuman is True or who.nonhuman is True
    console = e.action == "signin:ConsoleLogin"
    if not machine:
        return []
    if console:
        if not (who.nonhuman or server):
            return []
    elif ctx.agent_class not in UA.DESKTOP_CLASSES:
        return []
    elif any(c in UA.DESKTOP_CLASSES for c in p.classes):
        return []  # this identity has been used this way all along (and was reported then)
    elif not server and not ctx.established:
        return []
    how = "signed in to the console" if console else f"called {e.action} from a {ctx.agent_class.replace('-', ' ')}"
    return [Signal(DETECTOR, f"{who.name or e.principal} {how} ({UA.family(e.user_agent)}, {e.source_ip})",
                   f"usual clients: {', '.join(sorted(p.classes)) or 'none yet'}",
                   f"{ctx.agent_class}:{UA.family(e.user_agent)}",
                   {"user_agent_class": ctx.agent_class, "client": UA.family(e.user_agent), "source_ip": e.source_ip,
                    "known_classes": sorted(p.classes)})]
