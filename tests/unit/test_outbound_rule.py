"""The rule of the URLs orderhub calls for a merchant (orderhub.domain.outbound, docs/sync-flows.md
"Outbound URLs"): pure, no DNS, no sockets."""

from __future__ import annotations

import ast
import ipaddress

import pytest

from orderhub.domain import outbound
from orderhub.domain.outbound import Refused, check_url, parse_origins, refused_range
from orderhub.domain.settings import validate
from orderhub.kernel.errors import ValidationFailed

FAKE = "http://127.0.0.1:41234"
ALLOWED = parse_origins(FAKE)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        # addresses
        ("https://169.254.169.254/latest/meta-data/", "public_address"),
        ("https://127.0.0.1:9001/2018-06-01/runtime/invocation/next", "public_address"),
        ("https://127.9.9.9/", "public_address"),
        ("https://10.0.0.5/", "public_address"),
        ("https://172.16.0.1/", "public_address"),
        ("https://172.31.255.255/", "public_address"),
        ("https://192.168.1.1/", "public_address"),
        ("https://100.64.0.1/", "public_address"),
        ("https://100.127.255.254/", "public_address"),
        ("https://0.0.0.0/", "public_address"),
        ("https://224.0.0.251/", "public_address"),
        ("https://239.255.255.250/", "public_address"),
        ("https://240.0.0.1/", "public_address"),
        ("https://255.255.255.255/", "public_address"),
        ("https://192.0.2.10/", "public_address"),
        ("https://198.18.0.1/", "public_address"),
        ("https://[::1]/", "public_address"),
        ("https://[::]/", "public_address"),
        ("https://[fe80::1]/", "public_address"),
        ("https://[fc00::1]/", "public_address"),
        ("https://[fd12:3456::1]/", "public_address"),
        ("https://[fec0::1]/", "public_address"),
        ("https://[ff02::1]/", "public_address"),
        ("https://[::ffff:127.0.0.1]/", "public_address"),
        ("https://[::ffff:7f00:1]/", "public_address"),
        ("https://[::ffff:169.254.169.254]/", "public_address"),
        ("https://[::ffff:10.0.0.1]:8443/", "public_address"),
        ("https://[::7f00:1]/", "public_address"),
        ("https://[64:ff9b::a9fe:a9fe]/", "public_address"),
        ("https://[2002:7f00:1::1]/", "public_address"),
        ("https://[2001:0:4136:e378::1]/", "public_address"),
        ("https://[2001:db8::1]/", "public_address"),
        ("https://[fd00:ec2::254]/", "public_address"),  # the IPv6 instance metadata address
        ("https://localhost.localhost/", "public_address"),
        # numeric hosts other than dotted decimal
        ("http://2130706433/", "numeric_host"),
        ("https://2130706433/", "numeric_host"),
        ("https://0x7f.1/", "numeric_host"),
        ("https://0x7f000001/", "numeric_host"),
        ("https://0177.0.0.1/", "numeric_host"),
        ("https://127.1/", "numeric_host"),
        ("https://127.0.1/", "numeric_host"),
        ("https://017700000001/", "numeric_host"),
        ("https://1.2.3.4.5/", "numeric_host"),
        ("https://256.1.1.1/", "numeric_host"),
        # scheme
        ("http://shop.example.com/", "https_only"),
        ("ftp://shop.example.com/", "https_only"),
        ("file:///etc/passwd", "https_only"),
        ("gopher://shop.example.com/", "https_only"),
        ("http://127.0.0.1:41235/", "https_only"),  # another port than the allowed one
        ("https://127.0.0.1:41234/", "public_address"),  # the allowed origin is http
        # host names
        ("https://shop..example.com/", "host_name"),
        ("https://.shop.example.com/", "host_name"),
        ("https://shop.example.com./", "host_name"),
        ("https://localhost/", "host_name"),
        ("https://metadata/", "host_name"),
        ("https://shop_1.example.com/", "host_name"),
        ("https://-shop.example.com/", "host_name"),
        ("https://shop%2eexample.com/", "host_name"),
        ("https://" + "a" * 64 + ".example.com/", "host_name"),
        ("https://[fe80::1%25eth0]/", "host_name"),
        ("https://[not-an-address]/", "host_name"),
        ("https:///path", "host_name"),
        ("https://:443/", "host_name"),
        # credentials
        ("https://example.com@127.0.0.1/", "no_credentials"),
        ("https://user:secret@shop.example.com/", "no_credentials"),
        ("https://shop.example.com:443@169.254.169.254/", "no_credentials"),
        # characters
        ("https://ｓｈｏｐ.example.com/", "ascii_only"),
        ("https://shop.example.com/ｐａｔｈ", "ascii_only"),
        ("https://shop。example。com/", "ascii_only"),
        ("https://shop.example.com\\@127.0.0.1/", "url_syntax"),
        ("https://shop.example.com /", "url_syntax"),
        ("https://shop.example.com/\r\nX-Injected: 1", "url_syntax"),
        # structure
        ("not a url", "url_syntax"),
        ("shop.example.com", "url_syntax"),
        ("//shop.example.com/", "url_syntax"),
        ("", "url_syntax"),
        ("https://shop.example.com/?token=1", "url_syntax"),
        ("https://shop.example.com/#x", "url_syntax"),
        ("https://shop.example.com:0/", "url_syntax"),
        ("https://shop.example.com:65536/", "url_syntax"),
        ("https://shop.example.com:https/", "url_syntax"),
        ("https://shop.example.com:/", "url_syntax"),
        ("https://[::1/", "url_syntax"),
    ],
)
def test_refused_urls_name_their_rule(url, rule):
    with pytest.raises(Refused) as err:
        check_url(url, ALLOWED)
    assert err.value.rule == rule, err.value.message
    assert err.value.message


@pytest.mark.parametrize(
    ("url", "host", "port", "ip"),
    [
        ("https://shop.example.com", "shop.example.com", 443, None),
        ("https://SHOP.Example.com:8443/api/v1/", "shop.example.com", 8443, None),
        ("https://xn--r8jz45g.jp/shop", "xn--r8jz45g.jp", 443, None),
        ("https://my-shop.myshopify.com", "my-shop.myshopify.com", 443, None),
        ("HTTPS://shop.example.com/", "shop.example.com", 443, None),
        ("https://93.184.216.34/", "93.184.216.34", 443, "93.184.216.34"),
        ("https://[2606:4700:4700::1111]:8443/", "2606:4700:4700::1111", 8443, "2606:4700:4700::1111"),
        ("https://[::ffff:93.184.216.34]/", "::ffff:5db8:d822", 443, "::ffff:93.184.216.34"),
        ("https://shop.example.com/path%20with%20escapes", "shop.example.com", 443, None),
    ],
)
def test_public_https_urls_are_accepted(url, host, port, ip):
    target = check_url(url, ALLOWED)
    assert (target.scheme, target.host, target.port, target.allowlisted) == ("https", host, port, False)
    assert target.ip == (ipaddress.ip_address(ip) if ip else None)


def test_an_allowed_origin_may_be_http_and_loopback_and_only_exactly():
    target = check_url(FAKE + "/shopify", ALLOWED)
    assert (target.scheme, target.host, target.port, target.allowlisted) == ("http", "127.0.0.1", 41234, True)
    assert check_url(FAKE + "/", ALLOWED).allowlisted
    with pytest.raises(Refused):
        check_url(FAKE + "/shopify")  # nothing allowed: the same URL is refused
    with pytest.raises(Refused):
        check_url("http://127.0.0.1:41235/shopify", ALLOWED)
    with pytest.raises(Refused):
        check_url("http://localhost:41234/shopify", ALLOWED)
    with pytest.raises(Refused):
        check_url("http://2130706433:41234/", ALLOWED)
    with pytest.raises(Refused):  # credentials are refused even on an allowed origin
        check_url("http://x@127.0.0.1:41234/", ALLOWED)


def test_the_allowlist_names_exact_origins():
    assert parse_origins("") == frozenset()
    assert parse_origins("  ") == frozenset()
    assert parse_origins("http://127.0.0.1:1, HTTPS://Shop.Example.com:8443/ http://[::1]:2") == {
        ("http", "127.0.0.1", 1),
        ("https", "shop.example.com", 8443),
        ("http", "::1", 2),
    }
    for bad in (
        "127.0.0.1:8080",
        "http://127.0.0.1",
        "http://127.0.0.1:8080/path",
        "ftp://h.example.com:21",
        "http://u@127.0.0.1:1",
        "http://127.0.0.1:0",
        "*",
    ):
        with pytest.raises(ValueError):
            parse_origins(bad)


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("169.254.169.254", "link_local"),
        ("127.0.0.1", "loopback"),
        ("10.255.255.255", "private"),
        ("172.20.1.1", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "shared"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::abcd", "link_local"),
        ("fd00::1", "private"),
        ("ff05::2", "multicast"),
        ("::ffff:169.254.169.254", "link_local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::808:808", "reserved"),
        ("2002:0808:0808::1", "reserved"),
        ("4000::1", "reserved"),
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_ranges(address, name):
    assert refused_range(ipaddress.ip_address(address)) == name


def test_put_refuses_a_bad_url_naming_the_field_and_the_rule():
    with pytest.raises(ValidationFailed) as err:
        validate({"api_base_url": "https://169.254.169.254/"}, "shopify")
    assert err.value.field == "api_base_url" and err.value.details["rule"] == "public_address"
    assert err.value.message.startswith("api_base_url ")
    with pytest.raises(ValidationFailed) as err:
        validate({"api_base_url": FAKE + "/shopify"}, "shopify")
    assert err.value.details["rule"] == "https_only"
    assert validate({"api_base_url": FAKE + "/shopify"}, "shopify", allowed_origins=ALLOWED) == {
        "api_base_url": FAKE + "/shopify"
    }
    assert validate({"api_base_url": ""}, "shopify") == {"api_base_url": ""}  # no API
    assert validate({"api_base_url": "https://shop.example.com/"}, "shopify")


def test_the_module_does_no_io():
    tree = ast.parse(outbound.__loader__.get_source(outbound.__name__))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "ipaddress", "re", "dataclasses"}, imported
