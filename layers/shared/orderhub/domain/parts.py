"""The parts of an order as every source gives them: its lines (`Item`), its recipient and its
payment, validated with pydantic. The API's and the CSV import's registrations are built from
these; a marketplace's change (domain/models.py `OrderChange`) holds them too.

Money is a decimal string, never a float; every timestamp is aware UTC.
"""

from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Building its first model, pydantic looks for plugins in the entry points of every installed
# distribution (~7 ms of a cold start's first request); orderhub uses none. Set before the first
# model below is built; a value the environment gives is kept.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

# card / cod: released after the hold window. bank_transfer / konbini: wait for payment.
# marketplace: collected and cleared by the marketplace (Wish); released at once.
PaymentMethod = Literal["card", "cod", "bank_transfer", "konbini", "marketplace", "other"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Item(_Model):
    sku: str = Field(min_length=1, max_length=200)
    title: str = Field(default="", max_length=500)
    quantity: int = Field(ge=1, le=100000)
    price: Decimal = Field(ge=0)
    item_code: str | None = None

    @field_validator("price")
    @classmethod
    def _finite(cls, v: Decimal) -> Decimal:
        if not v.is_finite():
            raise ValueError("price must be a finite number")
        return v


class Recipient(_Model):
    name: str = Field(default="", max_length=300)
    address1: str = Field(default="", max_length=500)
    address2: str = Field(default="", max_length=500)
    city: str = Field(default="", max_length=200)
    region: str = Field(default="", max_length=200)
    postal_code: str = Field(default="", max_length=40)
    country: str = Field(default="", max_length=2, description="ISO 3166-1 alpha-2, upper case")
    phone: str = Field(default="", max_length=60)
    email: str = Field(default="", max_length=320)

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str) -> str:
        v = v.strip().upper()
        if v and (len(v) != 2 or not (v.isascii() and v.isalpha())):
            raise ValueError("country must be a two-letter ISO 3166-1 code")
        return v


class Payment(_Model):
    method: PaymentMethod
    paid_at: datetime | None = None
    gateway: str = ""
