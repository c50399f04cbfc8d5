"""Proposals and their events in the store: every SQL statement on ``proposals`` and
``proposal_events``, through the store's transactions (:meth:`api.store.Store.transaction`).

A proposal is answered as its JSON (:func:`get`): its fields, its events (who moved it to which
state, when, why) and its review. A state changes only along :data:`~api.proposals.states.TRANSITIONS`,
and only if no one changed it meanwhile (409 otherwise).

Examples
--------
>>> from api.store import Store
>>> store = Store("sqlite://")
>>> review = {"sizes": [], "findings": {}, "summary": {}}
>>> p = create(store, dict(street_code="S", level="grids", title="t", reason="", base_version=1, operation=None,
...                        rules="national", units={}, review=review), "staff")
>>> p["state"], move(store, p["id"], "submitted", "staff", None)["state"]
('draft', 'submitted')
>>> [e["state"] for e in get(store, p["id"])["events"]]
['draft', 'submitted']
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import sqlalchemy as sa

from api.errors import ConflictError, NotFoundError
from api.models import proposal_events, proposals
from api.proposals.states import STATES, TRANSITIONS
from api.store import Store


def get(store: Store, pid: int) -> dict:
    """The JSON of proposal ``pid``; NotFoundError when there is none."""
    with store.transaction() as conn:
        return _read(conn, pid)


def listing(store: Store, *, state: str | None = None, streets: tuple[str, ...] = ()) -> list[dict]:
    """The proposals (JSON), oldest first: those in ``state`` if given, of every street in ``streets``
    (a street's staff asking for another street get none)."""
    q = sa.select(proposals.c.id).order_by(proposals.c.id)
    if state:
        q = q.where(proposals.c.state == state)
    for street in streets:
        q = q.where(proposals.c.street_code == street)
    with store.transaction() as conn:
        return [_read(conn, i) for i in conn.execute(q).scalars().all()]


def create(store: Store, values: dict, author: str) -> dict:
    """A new proposal (``values``: its columns but state, author and time), a draft; its JSON."""
    with store.transaction(write=True) as conn:
        pid = conn.execute(sa.insert(proposals).values(
            **values, state=STATES[0], author=author, created_at=datetime.now(timezone.utc))
            .returning(proposals.c.id)).scalar()
        _event(conn, pid, STATES[0], author, None)
        return _read(conn, pid)


def change_draft(store: Store, pid: int, values: dict) -> dict:
    """Proposal ``pid`` with the columns ``values`` changed, if it is still a draft (ConflictError
    otherwise); its JSON."""
    with store.transaction(write=True) as conn:
        done = conn.execute(sa.update(proposals).where(proposals.c.id == pid, proposals.c.state == STATES[0])
                            .values(**values)) if values else None
        if done is not None and done.rowcount != 1:
            raise ConflictError(f"proposal {pid} is no longer a draft")
        return _read(conn, pid)


def move(store: Store, pid: int, to: str, actor: str, why: str | None,
         check: Callable[[dict], None] | None = None) -> dict:
    """Proposal ``pid`` moved to the state ``to`` by ``actor`` (an event, saying ``why``); its JSON.

    ConflictError (409) unless :data:`~api.proposals.states.TRANSITIONS` allows it from its state, or
    when it changed meanwhile; ``check(proposal)`` may refuse it too, in the same transaction.
    """
    allowed = TRANSITIONS[to]
    with store.transaction(write=True) as conn:
        cur = _read(conn, pid)
        if cur["state"] not in allowed:
            raise ConflictError(f"proposal {pid} is {cur['state']}: only a {' or '.join(allowed)} proposal can "
                                f"become {to}")
        if check is not None:
            check(cur)
        done = conn.execute(sa.update(proposals).where(proposals.c.id == pid, proposals.c.state == cur["state"])
                            .values(state=to))
        if done.rowcount != 1:
            raise ConflictError(f"proposal {pid} changed meanwhile; reload it")
        _event(conn, pid, to, actor, why)
        return _read(conn, pid)


def mark_applied(conn, pid: int, version: int, actor: str) -> None:
    """In the transaction ``conn`` that writes city version ``version``: proposal ``pid`` is applied
    (ConflictError when it is no longer approved: then nothing is written)."""
    done = conn.execute(sa.update(proposals).where(proposals.c.id == pid,
                                                   proposals.c.state.in_(TRANSITIONS["applied"]))
                        .values(state="applied", applied_version=version))
    if done.rowcount != 1:
        raise ConflictError(f"proposal {pid} changed meanwhile; nothing was applied")
    _event(conn, pid, "applied", actor, f"version {version}")


def _read(conn, pid: int) -> dict:
    row = conn.execute(sa.select(proposals).where(proposals.c.id == pid)).mappings().first()
    if row is None:
        raise NotFoundError(f"no proposal {pid}")
    events = conn.execute(sa.select(proposal_events).where(proposal_events.c.proposal_id == pid)
                          .order_by(proposal_events.c.id)).mappings().all()
    return _public(dict(row), [dict(e) for e in events])


def _utc(t):
    return t.replace(tzinfo=t.tzinfo or timezone.utc) if t is not None else None


def _public(row: dict, events: list[dict]) -> dict:
    """The proposal's JSON."""
    rv = row["review"]
    return {"id": row["id"], "street_code": row["street_code"], "level": row["level"], "title": row["title"],
            "reason": row["reason"], "state": row["state"], "base_version": row["base_version"],
            "author": row["author"], "created": _utc(row["created_at"]).isoformat(),
            "events": [{"state": e["state"], "by": e["actor"], "at": _utc(e["at"]).isoformat(), "why": e["why"]}
                       for e in events],
            "operation": row["operation"], "rules": row["rules"], "applied_version": row["applied_version"],
            "units": row["units"], "sizes": rv["sizes"], "findings": rv["findings"], "summary": rv["summary"]}


def _event(conn, pid: int, state: str, actor: str, why: str | None) -> None:
    conn.execute(sa.insert(proposal_events).values(proposal_id=pid, state=state, actor=actor,
                                                   at=datetime.now(timezone.utc), why=why))
