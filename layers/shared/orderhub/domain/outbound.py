"""Which URLs orderhub may call on a merchant's behalf (the marketplace API of an integration,
`api_base_url`): the rule. Pure: parsing and classifying only, no DNS and no sockets
(docs/sync-flows.md, "Outbound URLs").

- check_url(url, allowed) -> Target, or Refused(rule, message): what PUT /integrations checks,
  and what the marketplace client checks again before every call;
- refused_range(ip) -> the name of the range an address is refused for, or None when orderhub
  may connect to it: what the client checks every resolved address with, right before it
  connects (orderhub.marketplaces.client);
- parse_origins(text) -> the allowlist: exact `scheme://host:port` origins that may be called
  whatever their address, over http too (the local cloud allows its fake marketplace; deployed,
  the list is empty).

A URL is refused when it is not plain ASCII (an internationalized host is written in its
`xn--` form), has spaces, control characters or backslashes, is not https (http only for an
allowlisted origin), carries a user name or password, a query or a fragment, has a bad port, a
host that is not a full domain name of letters, digits and hyphens (an empty label, as in
`shop..example.com`, or a single label such as `localhost`), a numeric host other than
dotted-decimal IPv4 (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`: other parsers read them as
addresses), or an IP literal in a refused range. Refused ranges: unspecified, loopback,
link-local (169.254.0.0/16 holds the instance metadata service), private, shared address space
(100.64.0.0/10), multicast and reserved ranges, in IPv4 and IPv6; an IPv4-mapped IPv6 address is
judged by its IPv4 address, and IPv6 outside global unicast (2000::/3) or in a translation or
tunnel prefix (NAT64, 6to4, Teredo) is refused.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Origin = tuple[str, str, int]  # (scheme, host, port), host lower-case, IPv6 without brackets

DEFAULT_PORTS = {"https": 443, "http": 80}
MAX_HOST = 253

# (range, name): the first that holds an address names why it is refused.
_IPV4 = [
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link_local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "reserved"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved"),
        ("198.51.100.0/24", "reserved"),
        ("203.0.113.0/24", "reserved"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # and the broadcast address
    )
]
_IPV6 = [
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "reserved"),  # IPv4-compatible (deprecated)
        ("64:ff9b::/96", "reserved"),  # NAT64: could hide any IPv4 address
        ("64:ff9b:1::/48", "reserved"),
        ("100::/64", "reserved"),
        ("2001::/23", "reserved"),  # protocol assignments, Teredo (2001::/32)
        ("2001:db8::/32", "reserved"),
        ("2002::/16", "reserved"),  # 6to4: could hide any IPv4 address
        ("3fff::/20", "reserved"),
        ("5f00::/16", "reserved"),
        ("fc00::/7", "private"),
        ("fe80::/10", "link_local"),
        ("fec0::/10", "private"),  # site-local (deprecated)
        ("ff00::/8", "multicast"),
    )
]
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")

_DOTTED_V4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|\d+)$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PORT = re.compile(r"^\d{1,5}$")
_BAD_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


class Refused(ValueError):
    """A URL orderhub will not call. `rule` names the rule (PUT answers it), `message` says it."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class Target:
    """What a checked URL calls: scheme, host (lower-case name, or an IP literal without brackets),
    port (explicit or the scheme's), the literal's address (None for a name), and whether the
    origin is on the allowlist (then neither its scheme nor its addresses are checked)."""

    scheme: str
    host: str
    port: int
    ip: IPAddress | None
    allowlisted: bool

    @property
    def origin(self) -> Origin:
        return (self.scheme, self.host, self.port)


def refused_range(ip: IPAddress) -> str | None:
    """Why orderhub does not connect to an address (`loopback`, `link_local`, `private`, `shared`,
    `unspecified`, `multicast`, `reserved`), or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return refused_range(ip.ipv4_mapped)
        for net, name in _IPV6:
            if ip in net:
                return name
        if ip not in _GLOBAL_UNICAST_V6 or not ip.is_global:
            return "reserved"
        return None
    for net, name in _IPV4:
        if ip in net:
            return name
    return None if ip.is_global else "reserved"


def parse_origins(text: str) -> frozenset[Origin]:
    """The allowlist: `scheme://host:port` origins separated by commas or spaces, each with its
    port and nothing after it. A malformed entry raises ValueError (a deployment mistake)."""
    out: set[Origin] = set()
    for entry in re.split(r"[\s,]+", text or ""):
        if not entry:
            continue
        match = re.match(r"^(https?)://([^/?#@]+)/?$", entry, re.IGNORECASE)
        if match is None:
            raise ValueError(f"an allowed origin is scheme://host:port, got {entry!r}")
        scheme = match.group(1).lower()
        try:
            host, port, _ = _host_port(match.group(2), scheme)
        except Refused as exc:
            raise ValueError(f"an allowed origin {exc.message}, got {entry!r}") from None
        if port is None:
            raise ValueError(f"an allowed origin names its port, got {entry!r}")
        out.add((scheme, host, port))
    return frozenset(out)


def check_url(url: object, allowed: frozenset[Origin] = frozenset()) -> Target:
    """The target of a URL orderhub may call, or Refused naming the rule it breaks."""
    if not isinstance(url, str) or not url:
        raise Refused("url_syntax", "must be an https:// URL")
    if not url.isascii():
        raise Refused(
            "ascii_only",
            "must be plain ASCII: an internationalized host in its xn-- form, the path percent-encoded",
        )
    if _BAD_CHARACTERS.search(url):
        raise Refused("url_syntax", "must not contain spaces, control characters or backslashes")
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://([^/?#]*)(.*)$", url)
    if match is None:
        raise Refused("url_syntax", "must be an https:// URL")
    scheme, netloc, rest = match.group(1).lower(), match.group(2), match.group(3)
    if scheme not in DEFAULT_PORTS:
        raise Refused("https_only", "must be an https:// URL")
    if "@" in netloc:
        raise Refused("no_credentials", "must not carry a user name or password (put the token in api_token)")
    if "?" in rest or "#" in rest:
        raise Refused("url_syntax", "must not have a query or a fragment")
    host, port, ip = _host_port(netloc, scheme)
    target = Target(scheme, host, DEFAULT_PORTS[scheme] if port is None else port, ip, False)
    if target.origin in allowed:
        return Target(target.scheme, target.host, target.port, ip, True)
    if scheme != "https":
        raise Refused("https_only", "must be an https:// URL")
    if ip is not None:
        reason = refused_range(ip)
        if reason is not None:
            raise Refused("public_address", f"must not point at a {reason.replace('_', '-')} address")
    elif host == "localhost" or host.endswith(".localhost"):
        raise Refused("public_address", "must not point at a loopback address")
    return target


# ---------------------------------------------------------------------- parsing
def _host_port(netloc: str, scheme: str) -> tuple[str, int | None, IPAddress | None]:
    """(host, port or None, address of an IP literal) of `host[:port]`; Refused when malformed."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise Refused("url_syntax", "has an unclosed [ in its host")
        literal, after = netloc[1:end], netloc[end + 1 :]
        if "%" in literal:
            raise Refused("host_name", "must not name an IPv6 zone")
        try:
            ip: IPAddress | None = ipaddress.IPv6Address(literal)
        except ValueError:
            raise Refused("host_name", "has a malformed IPv6 address") from None
        host = str(ip)
    else:
        host, sep, after = netloc.partition(":")
        after = sep + after
        host = host.lower()
        ip = _ipv4_or_name(host)
        if ip is not None:
            host = str(ip)
    port: int | None = None
    if after:
        if not after.startswith(":") or not _PORT.match(after[1:]) or not 1 <= int(after[1:]) <= 65535:
            raise Refused("url_syntax", "has a bad port (1 to 65535)")
        port = int(after[1:])
    return host, port, ip


def _ipv4_or_name(host: str) -> ipaddress.IPv4Address | None:
    """A dotted-decimal IPv4 literal's address, None for a valid domain name; Refused otherwise."""
    if not host:
        raise Refused("host_name", "has no host")
    if _DOTTED_V4.match(host):
        return ipaddress.IPv4Address(host)
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise Refused(
            "numeric_host",
            "must name its host, or give an IPv4 address in dotted decimal (no decimal, octal or hex forms)",
        )
    if "" in labels:
        raise Refused("host_name", "has an empty label in its host (two dots in a row, or a dot at an end)")
    if len(labels) < 2:
        raise Refused("host_name", "must name a full domain name (such as shop.example.com)")
    if len(host) > MAX_HOST or not all(_LABEL.match(label) for label in labels):
        raise Refused(
            "host_name",
            "has a host that is not a domain name of letters, digits and hyphens (at most 63 per label)",
        )
    return None
