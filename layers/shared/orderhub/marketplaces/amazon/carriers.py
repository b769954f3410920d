"""orderhub's carrier codes -> Amazon's `carrierCode` (confirmShipment's packageDetail). Pure.

Amazon JP has refused a shipment confirmation without a carrierCode since 2022-08-31 (SP-API
changelog "CarrierCode value required in shipment confirmations"); a carrier Amazon does not
list is sent as carrierCode "Other" with its name in `carrierName` (required then: ordersV0.json
PackageDetail). The spellings below are those of the CarrierCode enumeration of Amazon's feed
schema (amzn-base.xsd) as several public copies of it show it: "YamatoTransport",
"SagawaExpress", "UPS", "FedEx", "DHL", "USPS" (the confirmShipment sandbox example in
ordersV0.json also sends "FedEx"). Amazon's own table of accepted values could not be read here;
"Japan Post" is the one spelling none of those copies has (it comes from the research notes'
secondary sources): if Amazon refuses it, the confirmation fails with a 400 and the order is
tagged, so change it here.
"""

from __future__ import annotations

OTHER = "Other"

CARRIER_CODES: dict[str, str] = {
    "japan_post": "Japan Post",
    "yamato": "YamatoTransport",
    "sagawa": "SagawaExpress",
    "ups": "UPS",
    "fedex": "FedEx",
    "dhl": "DHL",
    "usps": "USPS",
    "other": OTHER,
}

# What carrierName says for orderhub's "other" (orderhub keeps no name for it).
OTHER_NAME = "Other"


def carrier_code(carrier: str) -> str:
    """Amazon's carrierCode for an orderhub carrier code; any value orderhub does not know
    goes as "Other" (with its own text as carrierName: package_carrier)."""
    return CARRIER_CODES.get(carrier, OTHER)


def package_carrier(carrier: str) -> dict[str, str]:
    """The packageDetail fields that name the carrier: carrierCode, and carrierName when the
    code is "Other" (the orderhub code's own text when it is not one orderhub knows)."""
    code = carrier_code(carrier)
    if code != OTHER:
        return {"carrierCode": code}
    name = OTHER_NAME if carrier in ("", "other") else carrier
    return {"carrierCode": OTHER, "carrierName": name}
