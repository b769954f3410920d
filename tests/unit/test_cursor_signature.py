"""List cursors are signed by the stack (store/paging.py, docs/orders.md "Paging"): an HMAC keyed
with what the stack's KMS HMAC key gives this process, so a cursor the server did not issue, or
one changed by a bit, is a 400 `cursor`, and so is a signed one whose key lacks an attribute."""

from __future__ import annotations

import base64
import hashlib
import json

import boto3
import pytest
from moto import mock_aws

from orderhub.kernel import caches
from orderhub.kernel.errors import ValidationFailed
from orderhub.store import paging

KEY = {
    "pk": "M#demo#ORDER#ord_1",
    "sk": "#ORDER",
    "list_pk": "demo",
    "placed_sk": "2026-11-25T03:00:00.000Z#ord_1",
}


@pytest.fixture
def signing(monkeypatch):
    monkeypatch.setattr(paging, "signing_key", lambda: b"s" * 32)


def _refused(cursor: str, fingerprint: str = "f1", **kw) -> None:
    with pytest.raises(ValidationFailed) as exc:
        paging.decode_cursor(cursor, fingerprint, **kw)
    assert exc.value.field == "cursor" and exc.value.status == 400


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_a_cursor_comes_back_as_its_key(signing):
    assert paging.decode_cursor(paging.encode_cursor(KEY, "f1"), "f1") == KEY


def test_a_cursor_is_bound_to_its_list(signing):
    _refused(paging.encode_cursor(KEY, "f1"), "f2")


def test_an_unsigned_or_forged_cursor_is_refused(signing):
    payload = json.dumps({"k": KEY, "f": "f1"}, separators=(",", ":")).encode()
    _refused(_b64(payload))  # the old, unsigned form
    # an unkeyed hash is not a signature: anyone can compute it
    _refused(f"{_b64(payload)}.{_b64(hashlib.sha256(payload).digest()[:16])}")


def test_a_cursor_changed_by_one_bit_is_refused(signing):
    good = paging.encode_cursor(KEY, "f1")
    body, tag = good.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[10] ^= 1
    _refused(f"{_b64(bytes(raw))}.{tag}")
    _refused(f"{body}.{tag[:5]}{'A' if tag[5] != 'A' else 'B'}{tag[6:]}")


def test_a_cursor_signed_with_another_key_is_refused(signing, monkeypatch):
    good = paging.encode_cursor(KEY, "f1")
    monkeypatch.setattr(paging, "signing_key", lambda: b"t" * 32)
    _refused(good)


@pytest.mark.parametrize("garbage", ["", ".", "garbage", "²", "x.y.z", "%%%.%%%", "e30.e30", "a" * 2000])
def test_garbage_is_refused(signing, garbage):
    _refused(garbage)


@pytest.mark.parametrize(
    "key",
    [
        {"pk": "M#demo#ORDER#ord_1"},  # incomplete: no sort key
        {"sk": "#ORDER"},
        {"pk": "M#demo#ORDER#ord_1", "sk": 5},  # not text
        ["pk", "sk"],
    ],
)
def test_a_signed_key_that_is_not_a_start_key_is_refused(signing, key):
    _refused(paging.encode_cursor(key, "f1"))


def test_an_index_start_key_must_carry_the_index_attributes(signing):
    cursor = paging.encode_cursor({"pk": "p", "sk": "s"}, "f1")
    _refused(cursor, attrs=("pk", "sk", "list_pk", "placed_sk"))
    assert paging.decode_cursor(paging.encode_cursor(KEY, "f1"), "f1", attrs=tuple(KEY)) == KEY


def test_the_key_comes_from_the_stacks_kms_hmac_key(monkeypatch):
    """One GenerateMac per process: the same key for every process of the stack, never stored."""
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        arn = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("TABLE_NAME", "t")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("CURSOR_KEY_ARN", arn)
        caches.reset()
        try:
            first = paging.signing_key()
            expected = kms.generate_mac(
                KeyId=arn, MacAlgorithm="HMAC_SHA_256", Message=paging.CURSOR_KEY_MESSAGE
            )
            assert first == expected["Mac"] and len(first) == 32
            cursor = paging.encode_cursor(KEY, "f1")
            caches.reset()  # another process of the same stack
            assert paging.decode_cursor(cursor, "f1") == KEY
        finally:
            monkeypatch.delenv("CURSOR_KEY_ARN")
            caches.reset()


def test_without_the_key_a_function_cannot_page(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.delenv("CURSOR_KEY_ARN", raising=False)
    caches.reset()
    try:
        with pytest.raises(RuntimeError, match="CURSOR_KEY_ARN"):
            paging.encode_cursor(KEY, "f1")
    finally:
        caches.reset()
