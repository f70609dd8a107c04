"""Where an address is, offline: country and network (ASN name and range) from the data
bundled with the `geoip2fast` package (the `watch` extra). Private, loopback and
AWS-internal addresses have no country; an address that is a service name
(`lambda.amazonaws.com`) is the provider's own network."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Place:
    country: str  # ISO code; "" when unknown or private
    network: str  # ASN name, or the /16 (IPv4) or /48 (IPv6) when the ASN is unknown; "" when no address
    cidr: str  # the network's range, for "known workload ranges"
    private: bool = False
    service: bool = False  # an AWS service acting (an address that is a host name)


NOWHERE = Place("", "", "")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class Geo:
    def __init__(self, enabled: bool = True) -> None:
        self._db = None
        self.available = False
        if enabled:
            try:
                from geoip2fast import GeoIP2Fast

                self._db = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz", verbose=False)
                self.available = True
            except Exception:  # noqa: BLE001 - missing package or data: networks by prefix only
                self._db = None
        self._cache: dict[str, Place] = {}

    def place(self, address: str) -> Place:
        hit = self._cache.get(address)
        if hit is not None:
            return hit
        if len(self._cache) > 200_000:
            self._cache.clear()
        p = self._lookup(address)
        self._cache[address] = p
        return p

    def _lookup(self, address: str) -> Place:
        if not address:
            return NOWHERE
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            if address.endswith(".amazonaws.com") or address == "AWS Internal":
                return Place("", address, "", service=True)
            return Place("", "unparsed:" + address[:60], "")
        prefix = str(ipaddress.ip_network(f"{ip}/{16 if ip.version == 4 else 48}", strict=False))
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved \
                or ip in _SHARED:  # carrier-grade NAT space: no network of the internet
            return Place("", "private", prefix, private=True)
        if self._db is None:
            return Place("", prefix, prefix)
        try:
            r = self._db.lookup(address)
        except Exception:  # noqa: BLE001 - an address its data cannot place
            return Place("", prefix, prefix)
        country = r.country_code if r.country_code and r.country_code != "--" else ""
        return Place(country, r.asn_name or prefix, r.asn_cidr or prefix)


@lru_cache(maxsize=4096)  # asked per event by the travel and concurrency detectors
def provider(network: str) -> str:
    """The organisation behind a network name: one provider registers several (AMAZON-02
    and AMAZON-AES, GOOGLE and GOOGLE-CLOUD-PLATFORM, MICROSOFT-CORP-MSN-AS-BLOCK)."""
    head = network.upper().replace("_", "-").replace(" ", "-").split("-", 1)[0]
    return head if len(head) >= 3 and head != "ASN" else network.upper()
