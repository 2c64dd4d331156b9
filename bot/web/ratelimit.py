"""Per-client rate limiting for the web site: one token bucket per client address.

A client is its IP address, as the TCP peer, or - only when the peer is a trusted reverse
proxy (``PAPERBOT_WEB_TRUSTED_PROXIES``) - the address that proxy reports in
``X-Forwarded-For``: the right-most entry that is not itself a trusted proxy (entries further
left are whatever the client chose to send). An IPv6 client is its /64 network, since one
machine commonly holds a whole /64.

Each bucket holds up to ``capacity`` requests and refills at ``capacity / period`` per second.
The table of buckets is bounded: past ``max_clients`` the least recently seen client is
forgotten (it starts again with a full bucket, as a new client would).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_CLIENTS = 50_000
MAX_FORWARDED_ENTRIES = 32  # a longer X-Forwarded-For is read from its right end only


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """``allow(key)`` -> seconds to wait (0.0: go ahead, one token taken)."""

    def __init__(
        self,
        capacity: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if capacity < 1 or period <= 0:
            raise ValueError("a rate limit needs at least 1 request per a positive period")
        self.capacity = float(capacity)
        self.rate = capacity / period  # tokens per second
        self.clock = clock
        self.max_clients = max(1, max_clients)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, key: str) -> float:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.capacity, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


def retry_after_header(wait: float) -> str:
    """Whole seconds, rounded up, at least 1 (the header has no fractions)."""
    return str(max(1, math.ceil(wait)))


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _address(text: str | None) -> IPAddress | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _trusted(addr: IPAddress, proxies: tuple[IPNetwork, ...]) -> bool:
    return any(addr.version == net.version and addr in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: tuple[IPNetwork, ...]
) -> IPAddress | None:
    """The client's address: the peer, or (behind a trusted proxy) who the proxy served."""
    addr = _address(peer)
    if addr is None or not proxies or not _trusted(addr, proxies) or not forwarded_for:
        return addr
    hops = forwarded_for.split(",")[-MAX_FORWARDED_ENTRIES:]
    for hop in reversed(hops):
        found = _address(hop)
        if found is None:
            return addr  # garbage where an address should be: the proxy itself is the client
        if not _trusted(found, proxies):
            return found
        addr = found
    return addr


def client_key(addr: IPAddress | None) -> str:
    """The bucket an address counts against (IPv6: its /64)."""
    if addr is None:
        return "unknown"
    if isinstance(addr, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)
