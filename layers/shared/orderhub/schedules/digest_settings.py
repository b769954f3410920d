"""Where a merchant's daily digest goes (GET/PUT /notifications; docs/digest.md, "Your own
address"): an e-mail address and a language, kept on the merchant's profile.

Setting an address subscribes it to the digest topic with a filter policy on the `merchant_id`
message attribute, so it receives that merchant's digests only. SNS mails the address a
confirmation link first: nothing is sent to an address that did not confirm. Changing or
clearing the address unsubscribes the old one.
"""

from __future__ import annotations

import json
import re

from botocore.exceptions import ClientError

from orderhub.kernel import aws
from orderhub.kernel.config import require, settings
from orderhub.kernel.errors import NotFound, ValidationFailed
from orderhub.merchants import profiles
from orderhub.schedules.digest import DEFAULT_LANGUAGE, LANGUAGES
from orderhub.store import keys

# A plain address: one @, no spaces, a dotted domain (the mail system has the last word).
_EMAIL = re.compile(r"[^@\s\"<>,;]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}")
MAX_EMAIL = 254


def filter_policy(merchant_id: str) -> str:
    """The subscription's filter: this merchant's digests only."""
    return json.dumps({"merchant_id": [merchant_id]})


def _profile(merchant_id: str) -> dict:
    item = aws.table(settings().table_name).get_item(Key=keys.profile_key(merchant_id)).get("Item")
    if item is None:
        raise NotFound(f"merchant {merchant_id} has no profile", field="merchant_id")
    return item


def _subscription_state(arn: str | None) -> str:
    if not arn:
        return "none"
    try:
        attrs = aws.client("sns").get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NotFound", "NotFoundException"):
            return "none"  # unsubscribed by the recipient (the link in every mail)
        raise
    return "pending_confirmation" if attrs.get("PendingConfirmation") == "true" else "confirmed"


def view(profile: dict) -> dict:
    arn = profile.get("digest_subscription_arn")
    return {
        "email": profile.get("digest_email"),
        "language": profile.get("digest_language") or DEFAULT_LANGUAGE,
        "subscription": _subscription_state(arn) if profile.get("digest_email") else "none",
    }


def get(merchant_id: str) -> dict:
    return view(_profile(merchant_id))


def parse(body: dict, current: dict) -> tuple[str | None, str]:
    """The address (None: no e-mail) and the language the request sets; what it leaves out stays."""
    email = body.get("email", current.get("digest_email"))
    if email is not None:
        if not isinstance(email, str):
            raise ValidationFailed("email must be an e-mail address, or null for none", field="email")
        email = email.strip() or None
    if email is not None and (len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email)):
        raise ValidationFailed("email must be an e-mail address such as shop@example.jp", field="email")
    language = body.get("language", current.get("digest_language") or DEFAULT_LANGUAGE)
    if language not in LANGUAGES:
        raise ValidationFailed(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    return email, language


def put(merchant_id: str, body: dict) -> dict:
    """Set the digest's address and language. A new address is subscribed (SNS asks it to confirm);
    the old one is unsubscribed."""
    current = _profile(merchant_id)
    email, language = parse(body, current)
    arn = current.get("digest_subscription_arn")
    if email != current.get("digest_email"):
        topic = require("digest_topic_arn", why="subscribing the digest address").digest_topic_arn
        sns = aws.client("sns")
        if arn:
            try:
                sns.unsubscribe(SubscriptionArn=arn)
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ("NotFound", "NotFoundException", "InvalidParameter"):
                    raise
        arn = None
        if email:
            arn = sns.subscribe(
                TopicArn=topic,
                Protocol="email",
                Endpoint=email,
                Attributes={
                    "FilterPolicy": filter_policy(merchant_id),
                    "FilterPolicyScope": "MessageAttributes",
                },
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
    aws.table(settings().table_name).update_item(
        Key=keys.profile_key(merchant_id),
        UpdateExpression="SET digest_email = :e, digest_language = :l, digest_subscription_arn = :a",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":e": email, ":l": language, ":a": arn},
    )
    profiles.clear_cache()  # this process's copy; the digest reads the language from the profile
    return view(
        {**current, "digest_email": email, "digest_language": language, "digest_subscription_arn": arn}
    )
