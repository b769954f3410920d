"""The query string of GET /orders as a pydantic model (its own module: pydantic is imported
the first time a list query is parsed, not when orderhub.queries is)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orderhub.queries import PAGE_SIZES


class ListParams(BaseModel):
    """The query string of GET /orders."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    status: Literal["pending", "new", "processing", "shipped", "on_hold", "cancelled", "closed"] | None = None
    marketplace: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,40}$")
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    mapping: Literal["ok", "fail"] | None = None
    date_basis: Literal["placed", "updated"] = "placed"
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    tag: str | None = Field(default=None, min_length=1, max_length=100)
    q: str | None = Field(default=None, min_length=1, max_length=100)
    include_deleted: bool = False
    preset: Literal["today", "last_7_days", "unmapped", "due_24h"] | None = None
    page_size: int = 50
    cursor: str | None = Field(default=None, max_length=2000)

    @field_validator("page_size")
    @classmethod
    def _page_size(cls, v: int) -> int:
        if v not in PAGE_SIZES:
            raise ValueError(f"page_size must be one of {', '.join(map(str, PAGE_SIZES))}")
        return v
