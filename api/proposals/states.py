"""A proposal's life: ``draft`` → ``submitted`` → ``approved`` | ``rejected``; ``approved`` → ``applied``.

A draft is changed by its author only; a reviewer approves or rejects a submitted proposal (and may
still reject an approved one); applying writes it into the city as a new version.

>>> allowed("submitted", "approved"), allowed("draft", "applied")
(True, False)
"""

from __future__ import annotations

from typing import Literal, get_args

State = Literal["draft", "submitted", "approved", "rejected", "applied"]
#: Every state, the first a new proposal's.
STATES: tuple[str, ...] = get_args(State)
#: For each state a proposal can move to, the states it can move from.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "submitted": ("draft",),
    "approved": ("submitted",),
    "rejected": ("submitted", "approved"),
    "applied": ("approved",),
}


def allowed(state: str, to: str) -> bool:
    """Whether a proposal that is ``state`` can become ``to``."""
    return state in TRANSITIONS.get(to, ())
