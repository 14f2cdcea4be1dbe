"""Which address `--host` binds, whether that is loopback, and the Host-header check that goes with a loopback bind.

One definition serves the bind, the printed URL, the warning and the Host check: `--host` is resolved once
(`bind_address`) and it is the resolved address that is loopback or not — `127.1` binds 127.0.0.1 and is loopback,
`127.0.0.2` is loopback and is also accepted as a Host name.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import EngineError
from .schemas import RequestError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


@dataclass(frozen=True)
class BindAddress:
    """A resolved `--host`: the socket family and the numeric address to bind."""

    family: int
    address: str

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can reach the address (127.0.0.0/8 or ::1)."""
        return ipaddress.ip_address(self.address).is_loopback

    @property
    def url_host(self) -> str:
        """The address as written in a URL or a Host header (IPv6 in brackets)."""
        return f"[{self.address}]" if self.family == socket.AF_INET6 else self.address


def bind_address(host: str) -> BindAddress:
    """Resolve `host` (a name, an IPv4/IPv6 address, IPv6 optionally in brackets) to the address it binds.

    IPv4 is preferred for names that have both (`localhost` binds 127.0.0.1, as clients expect); the resolver's
    short forms count as what they bind (`127.1` → 127.0.0.1). Raises `EngineError` when `host` does not resolve.
    """
    name = host.strip().strip("[]")
    families = (socket.AF_INET6,) if ":" in name else (socket.AF_INET, socket.AF_INET6)
    for family in families:
        try:
            found = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            continue
        if found:
            address = str(found[0][4][0]).split("%", 1)[0]  # drop an IPv6 zone id (fe80::1%eth0)
            return BindAddress(family, address)
    raise EngineError(f"Cannot listen on {host!r}: it is not an address or a name this machine can resolve; give "
                      "an IP address such as 127.0.0.1 (this machine only) or 0.0.0.0 (all networks).")


def is_loopback(host: str) -> bool:
    """Whether `host` binds an address only this machine can reach (False when it does not resolve)."""
    try:
        return bind_address(host).is_loopback
    except EngineError:
        return False


def allowed_host_names(host: str) -> frozenset[str]:
    """Host-header names served on a loopback bind of `host`: localhost, 127.0.0.1, [::1], the bound address and
    `host` itself as typed (lower-case)."""
    typed = host.strip().lower()
    bound = bind_address(host).url_host
    return LOOPBACK_NAMES | {bound, typed if ":" not in typed or typed.startswith("[") else f"[{typed}]"}


def host_name(header: str) -> str | None:
    """The name part of a Host header (`[::1]:8765` → `[::1]`), lower-case; None when it is not one name (empty, or
    holds a comma or whitespace — `127.0.0.1, evil.com` is two values, not a loopback name)."""
    if not header or any(c in header for c in ", \t\r\n"):
        return None
    if header.startswith("["):
        end = header.find("]")
        return header[: end + 1].lower() if end > 0 else None
    return header.rsplit(":", 1)[0].lower() if header.count(":") <= 1 else None


class HostCheck:
    """Refuse (421) requests whose Host header is not one of `allowed` — on a loopback bind, this stops a web page
    that re-points its own name at 127.0.0.1 (DNS rebinding) from reading the API."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] = LOOPBACK_NAMES) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = [v for k, v in scope.get("headers") or [] if k == b"host"]
            name = host_name(hosts[0].decode("latin-1")) if len(hosts) == 1 else None
            if name not in self.allowed:
                shown = ", ".join(sorted(self.allowed))
                error = RequestError(421, f"This server answers only requests addressed to this machine ({shown}); "
                                     "use one of those names in the URL.", code="host_not_allowed")
                await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)
