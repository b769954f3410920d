"""orderhub's carrier codes -> the shipping provider names Wish takes in `shipping_provider` of
PUT /api/v3/orders/{id}/tracking (pure; no I/O).

Wish's Merchant API v3 (3.0.65) gives no list of names in the spec: `shipping_provider` is a free
string, "the carrier that will be shipping your package", and the accepted names are what
GET /api/v3/orders/shipping_carriers?order_type=GENERAL answers for the merchant (a list of
`{name}`). The names below follow the spelling Wish's own order objects use (one word, upper camel
case: "WishPost", "RussianPost") and the common names of the international carriers. They are
not confirmed against a live shipping_carriers answer: a name Wish does not accept makes the PUT
fail with Wish's error, which names the order, and the merchant can use a code Wish knows (any
value that is not an orderhub carrier code is sent as is).
"""

from __future__ import annotations

# Keyed by every code of orderhub.marketplaces.client.CARRIER_CODES (tests/unit/test_wish_connector.py).
WISH_SHIPPING_PROVIDERS: dict[str, str] = {
    "japan_post": "JapanPost",
    "yamato": "YamatoTransport",
    "sagawa": "SagawaExpress",
    "ups": "UPS",
    "fedex": "FedEx",
    "dhl": "DHL",
    "usps": "USPS",
    "other": "Other",
}


def provider_name(carrier: str) -> str:
    """Wish's shipping provider name for an orderhub carrier code (case-insensitive); any other
    value (a name Wish lists, chosen by the merchant) is passed through as given."""
    value = (carrier or "").strip()
    return WISH_SHIPPING_PROVIDERS.get(value.lower(), value)


def same_provider(a: str, b: str) -> bool:
    """Whether two provider names are the same carrier as Wish shows them (case, spaces and
    punctuation aside: "Japan Post" and "JapanPost")."""

    def key(name: str) -> str:
        return "".join(ch for ch in (name or "").lower() if ch.isalnum())

    return key(a) == key(b)
