"""Database URIs with a password: connect and authenticate, then disconnect. PostgreSQL
(psycopg, the `postgres` extra); other engines are reported `unknown`.

The endpoint override (`--verify-endpoint postgres=HOST:PORT`) sends the connection there
instead of the URI's host: a way to check a leaked production URI against a replica, and
how the tests reach their local server."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from nhiguard.remediate.verify import Candidate, Http, Verification

_PG_URI = re.compile(r"postgres(?:ql)?(?:\+\w+)?://[^\s'\"<>`]+", re.IGNORECASE)


class PostgresVerifier:
    name = "postgres"
    default_endpoint = ""  # the URI's own host
    calls = "a PostgreSQL connection that authenticates and closes (no query)"

    @staticmethod
    def check_endpoint(value: str) -> str:
        """HOST[:PORT] (or a postgres:// / postgresql:// URL naming only that), normalised to
        HOST[:PORT]; ValueError for anything else (http:// and other schemes included)."""
        scheme, sep, rest = value.partition("://")
        if sep and scheme.lower() not in ("postgres", "postgresql"):
            raise ValueError(f"postgres: the endpoint is HOST:PORT (or postgresql://HOST:PORT), "
                             f"not a {scheme}:// URL")
        rest = rest if sep else value
        try:
            parts = urlsplit("//" + rest)
            port = parts.port
        except ValueError:
            raise ValueError(f"postgres: {value!r} is not HOST:PORT") from None
        if not parts.hostname or parts.username or parts.password is not None \
                or parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError(f"postgres: {value!r} is not HOST:PORT")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{host}:{port}" if port else host

    def handles(self, c: Candidate) -> bool:
        return c.kind == "database_credential" and bool(c.context and _PG_URI.search(c.context))

    def verify(self, c: Candidate, endpoint: str, http: Http) -> Verification:
        try:
            import psycopg
        except ModuleNotFoundError:
            return Verification("unknown", self.name, message="needs psycopg: pip install 'nhiguard[postgres]'")
        m = _PG_URI.search(c.context or "")
        assert m is not None
        parts = urlsplit(m.group(0))
        host, port = parts.hostname or "localhost", parts.port or 5432
        if endpoint:
            at = urlsplit("//" + endpoint.partition("://")[2] if "://" in endpoint else "//" + endpoint)
            host, port = at.hostname or host, at.port or port
        user = unquote(parts.username or "")
        dbname = unquote(parts.path.lstrip("/")) or user
        ident = {"user": user, "host": parts.hostname or "", "database": dbname}
        try:
            conn = psycopg.connect(host=host, port=port, user=user, password=c.secret, dbname=dbname,
                                   connect_timeout=int(http.timeout), autocommit=True)
        except psycopg.OperationalError as exc:
            text = str(exc).lower()
            if "password authentication failed" in text or "role" in text and "does not exist" in text:
                return Verification("revoked", self.name, ident, "postgres refused the password")
            if "database" in text and "does not exist" in text:
                return Verification("live", self.name, ident, "authenticated; the database does not exist")
            return Verification("error", self.name, ident, "cannot connect to the database server")
        conn.close()
        return Verification("live", self.name, ident)
