"""The one way out: every outbound HTTP call Kith makes (channels, JSON-RPC, web3) goes through here.

Destinations come from people who may be hostile (a campaign's webhook URL, a contact's Discord
handle) or from configuration that may be wrong, and the functions run inside AWS, next to the
instance metadata service, the Lambda Runtime API and whatever the VPC can reach. So:

  * https only, unless the local-cloud setting allows plain http (KITH_EGRESS, below);
  * the host is resolved here, every address it resolves to must be public (no loopback, private,
    link-local, shared, reserved, multicast or metadata address), and the connection is made to
    the address that was checked, so a DNS answer cannot change between the check and the connect;
  * redirects are never followed, and no proxy from the environment is used.

    KITH_EGRESS={"allow_http": true, "allow_networks": ["127.0.0.0/8"]}

is the local cloud's setting: its chains and delivery sinks listen on 127.0.0.1 over plain http.
`allow_networks` opens exactly those networks; metadata addresses stay closed whatever it says.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SETTING = "KITH_EGRESS"
# The instance metadata service (IPv4 and IPv6) and the ECS task metadata endpoint: never reachable.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "fd00:ec2::23")
)
# Names that resolve to something internal without DNS telling the truth about it.
_INTERNAL_NAMES = ("localhost", "metadata.google.internal", "instance-data")
# RFC 6598 shared address space is neither private nor global in ipaddress' terms; it is internal.
_SHARED_SPACE = ipaddress.ip_network("100.64.0.0/10")


class EgressRefused(Exception):
    """The destination is not one Kith may call; the message says why without quoting the URL's path."""


@dataclass(frozen=True)
class EgressPolicy:
    allow_http: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()

    def permits(self, address: IPAddress) -> bool:
        return address_refusal(address, self) is None


def policy_from_setting(raw: str) -> EgressPolicy:
    if not raw.strip():
        return EgressPolicy()
    try:
        parsed = json.loads(raw)
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in parsed.get("allow_networks", []))
        return EgressPolicy(allow_http=bool(parsed.get("allow_http", False)), allow_networks=networks)
    except (ValueError, TypeError, AttributeError) as exc:
        example = '{"allow_http": true, "allow_networks": ["127.0.0.0/8"]}'
        raise ValueError(f"{SETTING} must be JSON like {example}: {exc}") from None


@lru_cache(maxsize=16)
def _cached_policy(raw: str) -> EgressPolicy:
    return policy_from_setting(raw)


def current_policy() -> EgressPolicy:
    """The running function's policy (read per call: the local cloud gives each function its own environment)."""
    return _cached_policy(os.environ.get(SETTING, ""))


def address_refusal(address: IPAddress, policy: EgressPolicy) -> str | None:
    """Why `address` may not be called, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return address_refusal(embedded, policy)
    if address in METADATA_ADDRESSES:
        return "is a cloud metadata address"
    if any(address in network for network in policy.allow_networks):
        return None
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address"
    if address.is_multicast:
        return "is a multicast address"
    if address.is_unspecified:
        return "is an unspecified address"
    if address.version == 4 and address in _SHARED_SPACE:
        return "is in shared (carrier-grade NAT) address space"
    if address.is_private:
        return "is a private address"
    if address.is_reserved or not address.is_global:
        return "is a reserved address"
    return None


def check_url(url: str, policy: EgressPolicy | None = None) -> None:
    """Refuse a URL by its form alone: scheme, credentials, and a host that is an internal name or address.

    Cheap and offline, so it also validates URLs people submit (a campaign's webhook_url); the
    connection still resolves and checks the host again, which is the check that counts.
    """
    policy = policy or current_policy()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EgressRefused("is not a valid URL") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if scheme not in allowed:
        raise EgressRefused(f"must be an {' or '.join(allowed)} URL")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise EgressRefused("has no host")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("must not carry credentials before the host")
    if port == 0:
        raise EgressRefused("has port 0")
    literal = _literal_address(host)
    if literal is not None:
        reason = address_refusal(literal, policy)
        if reason:
            raise EgressRefused(f"host {host} {reason}")
        return
    internal = host in _INTERNAL_NAMES or host.endswith((".localhost", ".internal", ".local"))
    # a name only internal resolvers answer; `localhost` passes when the local setting opens loopback
    local_loopback = host == "localhost" and any(ipaddress.ip_address("127.0.0.1") in n for n in policy.allow_networks)
    if internal and not local_loopback:
        raise EgressRefused(f"host {host} is an internal name")


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    # inet_aton accepts the shorthand forms (http://2130706433/, http://0x7f.1/) that browsers and libc do
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def resolve(host: str, port: int, policy: EgressPolicy | None = None) -> list[tuple[Any, ...]]:
    """getaddrinfo's answers for host:port, refused as a whole when any answer is not allowed."""
    policy = policy or current_policy()
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise EgressRefused(f"host {host} does not resolve") from None
    if not answers:
        raise EgressRefused(f"host {host} does not resolve")
    for _family, _type, _proto, _name, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = address_refusal(address, policy)
        if reason:
            raise EgressRefused(f"host {host} resolves to {address}, which {reason}")
    return answers


def _connect_checked(
    host: str, port: int, timeout: float | None, source_address: Any, socket_options: Any
) -> socket.socket:
    """Connect to one of host's checked addresses (never resolving it again)."""
    last: OSError | None = None
    for family, socktype, proto, _name, sockaddr in resolve(host, port):
        sock = socket.socket(family, socktype, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            last = exc
            sock.close()
    raise last or OSError(f"could not connect to {host}")


class _CheckedConnect:
    """urllib3 connection mixin: resolve, check and connect in one step."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        try:
            return _connect_checked(self._dns_host, self.port, timeout, self.source_address, self.socket_options)
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"connection to {self.host} timed out") from exc
        except EgressRefused:
            raise
        except OSError as exc:
            reason = f"failed to connect to {self.host}: {type(exc).__name__}"
            raise NewConnectionError(self, reason) from exc  # type: ignore[arg-type]


class _CheckedHTTPConnection(_CheckedConnect, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnect, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """requests' adapter with connections that check where they connect, and no proxies."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise EgressRefused("outbound calls do not go through proxies")


class GuardedSession(requests.Session):
    """A requests.Session that enforces the egress policy on every request and follows no redirect."""

    def __init__(self, pool_connections: int = 10, pool_maxsize: int = 10) -> None:
        super().__init__()
        self.trust_env = False  # no HTTP(S)_PROXY, no .netrc credentials
        self.max_redirects = 0
        adapter = GuardedAdapter(pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        check_url(str(request.url))
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def guarded_session(pool_connections: int = 10, pool_maxsize: int = 10) -> GuardedSession:
    return GuardedSession(pool_connections, pool_maxsize)


def redacted(url: str) -> str:
    """scheme://host[:port] and nothing more: paths and queries carry provider keys and tokens."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<url>"
    suffix = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme or '?'}://{host}{port}{suffix}"


def scrub(text: str, urls: Iterable[str]) -> str:
    """`text` with every URL in `urls`, and each one's path and query, replaced by its redacted form."""
    for url in urls:
        if not url:
            continue
        text = text.replace(url, redacted(url))
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        for secret_part in (parts.path, parts.query):
            if len(secret_part.strip("/")) >= 8:
                text = text.replace(secret_part, "/…")
    return text
