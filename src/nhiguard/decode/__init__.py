"""Decoders turn one blob into more blobs: archive members, JSON string values, base64, hex
and URL-encoded text.

Derived blobs are scanned like any other, and what they reveal is reported at the
outer blob's location with the route that led there (e.g. `zip:inner.zip!token.txt`).
Every decoder is bounded: depth, member count, and a total decompressed-size budget;
hostile input (zip bombs, traversal names, corrupt archives) becomes a reported
problem, never a crash or a lost result.
"""

from nhiguard.decode.expand import DecodeBudget, Derived, expand

__all__ = ["Derived", "DecodeBudget", "expand"]
