"""Webhook secrets: which verify a delivery, and what a rotation keeps (merchants/secrets.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.kernel.errors import ValidationFailed
from orderhub.merchants import secrets

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_the_old_secret_verifies_until_the_overlap_ends():
    profile = {"webhook_secrets": {"generic": "old-secret-0000000"}}
    profile.update(secrets.rotated(profile, "generic", "new-secret-1111111", NOW, timedelta(hours=24)))
    assert secrets.verifying(profile, "generic", NOW) == ["new-secret-1111111", "old-secret-0000000"]
    assert secrets.verifying(profile, "generic", NOW + timedelta(hours=23, minutes=59)) == [
        "new-secret-1111111",
        "old-secret-0000000",
    ]
    assert secrets.verifying(profile, "generic", NOW + timedelta(hours=24)) == ["new-secret-1111111"]
    assert secrets.verifying(profile, "shopify", NOW) == []


def test_a_rotation_without_overlap_or_previous_secret_keeps_none():
    profile = {
        "webhook_secrets": {"generic": "a" * 20},
        "previous_webhook_secrets": {"generic": {"secret": "b" * 20, "valid_until": "2099-01-01T00:00:00Z"}},
    }
    fields = secrets.rotated(profile, "generic", "c" * 20, NOW, timedelta(0))
    assert fields == {"webhook_secrets": {"generic": "c" * 20}, "previous_webhook_secrets": {}}
    assert secrets.rotated({}, "wish", "d" * 20, NOW, timedelta(hours=1))["previous_webhook_secrets"] == {}


def test_a_second_rotation_replaces_the_previous_secret():
    profile = {"webhook_secrets": {"generic": "first-secret-000000"}}
    profile.update(secrets.rotated(profile, "generic", "second-secret-00000", NOW, timedelta(hours=24)))
    profile.update(secrets.rotated(profile, "generic", "third-secret-000000", NOW, timedelta(hours=24)))
    assert secrets.verifying(profile, "generic", NOW) == ["third-secret-000000", "second-secret-00000"]


@pytest.mark.parametrize("value", ["short", " padded-secret-value ", "tab\tinside-the-secret", "x" * 257])
def test_a_given_secret_must_be_printable_and_16_to_256_characters(value):
    with pytest.raises(ValidationFailed) as exc:
        secrets.check_secret(value)
    assert exc.value.field == "secret"


def test_generated_secrets_are_long_and_distinct():
    made = {secrets.new_secret() for _ in range(50)}
    assert len(made) == 50 and all(len(s) >= 40 for s in made)
