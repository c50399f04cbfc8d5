"""The bodies of the proposal requests (pydantic models: FastAPI checks them and answers 400).

Their comments are not docstrings: a docstring would become a description in ``/openapi.json``.

>>> Why(why="sizes out of bounds").why
'sizes out of bounds'
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

#: The levels a proposal redraws.
Level = Literal["communities", "grids"]
LEVELS: tuple[str, ...] = get_args(Level)


# A new proposal: its street's units of one level (``units``), or an ``operation`` of ``gis.simulate``.
class NewProposal(BaseModel):
    street_code: str = Field(max_length=100)
    level: Level | None = None
    title: str = Field(min_length=1, max_length=500)
    reason: str = Field("", max_length=20000)
    base_version: int = Field(ge=1)
    units: dict | None = None
    operation: Literal["rebalance", "merge", "split"] | None = None
    parent: str | None = Field(None, max_length=100)
    unit: str | None = Field(None, max_length=100)
    k: int | None = Field(None, ge=2, le=50)
    rules: str | None = None


# What its author changes in a draft (what is given).
class Change(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=500)
    reason: str | None = Field(None, max_length=20000)
    units: dict | None = None
    base_version: int | None = Field(None, ge=1)


# Units to review without saving them (``/proposals/preview``).
class Draft(BaseModel):
    street_code: str = Field(max_length=100)
    level: Level
    base_version: int = Field(ge=1)
    units: dict
    rules: str | None = None


# An area, or an estate, to give to the unit ``to`` (``/proposals/draw``).
class Drawn(Draft):
    units: dict | None = None  # the draft so far; none: the stored units
    area: dict | None = None  # the drawn area; none: the land of ``estate`` in ``grid``
    estate: str | None = Field(None, min_length=1, max_length=200)
    grid: str | None = Field(None, min_length=1, max_length=100)
    to: str = Field(min_length=1, max_length=100)


# Why a reviewer approves or rejects.
class Why(BaseModel):
    why: str | None = Field(None, max_length=20000)


# The city version the reviewer saw (or the header If-Match).
class ApplyBody(BaseModel):
    base_version: int | None = None
