"""orderhub's carrier codes -> Qoo10 Japan's `ShippingCorp` (pure).

`ShippingBasic.SetSendingInfo(OrderNo, ShippingCorp, TrackingNo)` takes the carrier as a NAME
(a string of up to 200 characters), not a code. What was confirmed and what was not:

- The QAPI guide's example value for `ShippingCorp` is "ゆうパック" (Japan Post's parcel
  service), and "Qxpress" (Qoo10's own carrier) in `SetSendingInfoBulk`'s example: seen in a
  rendering of the guide (a Korean transcription of the official QAPIGuideIndex pages, found by
  text search; its repository was not identified). So japan_post is sent as "ゆうパック".
- The other names are the carriers' usual Japanese names, as Qoo10's seller screen (QSM) lists
  them, from memory: NOT confirmed against the list Qoo10 accepts. Qoo10's answer when it does
  not know a name was not found either (it may refuse the call, or keep the text as it is).
- Japan Post's other services (ゆうパケット, ゆうメール, EMS) have tracking numbers on the same
  Japan Post site; whether Qoo10 wants them named separately is not known, so japan_post is
  always "ゆうパック".

An unknown code is sent as it is (the caller validates orderhub's codes;
orderhub.marketplaces.client.CARRIER_CODES).
"""

from __future__ import annotations

SHIPPING_CORPS: dict[str, str] = {
    "japan_post": "ゆうパック",  # confirmed as the guide's example value
    "yamato": "ヤマト運輸",  # not confirmed
    "sagawa": "佐川急便",  # not confirmed
    "ups": "UPS",  # not confirmed
    "fedex": "FedEx",  # not confirmed
    "dhl": "DHL",  # not confirmed
    "usps": "USPS",  # not confirmed
    "other": "その他",  # not confirmed
}


def shipping_corp(carrier: str) -> str:
    """What `SetSendingInfo`'s ShippingCorp says for an orderhub carrier code."""
    return SHIPPING_CORPS.get(carrier, carrier)
