"""Redraw proposals over HTTP: ``/proposals`` (create, list, read, change, submit, approve, reject,
apply), the editor's ``/proposals/preview`` and ``/proposals/draw`` (which save nothing), ``/history``.

A proposal is the full new set of units of one level inside one street (GeoJSON, WGS84), drawn by
hand or made by ``gis.simulate`` (rebalance, merge, split); it carries its review
(:mod:`api.proposals.review`) before anyone approves it. Its life is
:data:`api.proposals.states.TRANSITIONS`; applying writes every changed layer as one new city
version, in one transaction, or nothing.

The viewer's editor builds a draft with two requests that save nothing: ``/proposals/draw`` gives
a drawn area to one unit (:func:`gis.edit.draw`) and refuses a result that would add coverage
findings; ``/proposals/preview`` reviews units edited by hand (a dragged vertex). An estate (小区) is
reassigned to a neighbouring grid through ``/proposals/draw`` too: the server makes its land the
area (:func:`gis.edit.estate_area`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import geopandas as gpd
from fastapi import APIRouter, Body, Depends, Header, Query, Request

from api.auth import User, reader, role, signed_in
from api.errors import ConflictError, ForbiddenError, NotFoundError, ProposalError, StaleError
from api.proposals import repository
from api.proposals.geojson import feature_collection, parse_units, read_area
from api.proposals.operations import from_operation
from api.proposals.review import COVERAGE_CODES, review, street_findings
from api.proposals.schemas import LEVELS, ApplyBody, Change, Draft, Drawn, NewProposal, Why
from api.proposals.states import State, allowed
from api.routes.responses import json_response
from api.settings import Settings
from api.store import Store
from gis.edit import draw, estate_area, in_street, proposed_city
from gis.model import City
from gis.review import new_findings
from gis.rules import available, load_rules


def _store(request: Request) -> Store:
    return request.app.state.store


def _visible(request: Request, user: User, pid: int) -> dict:
    """Proposal ``pid``, unless it is another street's and ``user`` is a street's staff (404 then)."""
    p = repository.get(_store(request), pid)
    if user.role == "street_staff" and p["street_code"] != user.street_code:
        raise NotFoundError(f"no proposal {pid}")
    return p


def _rule_set(settings: Settings, user: User, street: str, rules: str | None) -> str:
    """The rule set a proposal of ``user`` for ``street`` is reviewed under (a street's staff propose
    for their street only)."""
    if user.role == "street_staff" and street != user.street_code:
        raise ForbiddenError(f"you propose for street {user.street_code} only")
    rules = rules or settings.default_rules
    if rules not in available():
        raise ProposalError(f"unknown rule set {rules!r}; bundled: {', '.join(available())}")
    return rules


def _city(request: Request, street: str, base_version: int) -> City:
    """The stored city, if it is still ``base_version`` and has ``street``."""
    version, city = _store(request).snapshot()
    if version != base_version:
        raise StaleError(f"the city is at version {version}, not {base_version}: reload it and draw again")
    if "streets" not in city or not (city["streets"]["code"] == street).any():
        raise ProposalError(f"no street {street!r}")
    return city


def _has(city: City, level: str) -> None:
    if level not in city or "communities" not in city:
        raise ProposalError(f"the stored city has no {level}")


def _evaluate(request: Request, street: str, level: str | None, units_fc, op: dict | None, rules: str,
              base_version: int):
    """The level, the units (GeoJSON) and the review of a proposal of ``units_fc`` or of ``op``."""
    city = _city(request, street, base_version)
    if op is not None:
        level, made = from_operation(city, street, op, rules)
        units_fc = feature_collection(made)
    if level not in LEVELS:
        raise ProposalError(f"level must be one of {', '.join(LEVELS)}")
    _has(city, level)
    units = parse_units(units_fc, city, street, level)
    new, _ = proposed_city(city, street, level, units)
    return level, units_fc, review(city, new, street, level, rules, base_version)


def _no_new_errors(p: dict) -> None:
    n = p["summary"]["new_errors"]
    if n:
        raise ConflictError(f"proposal {p['id']} adds {n} error(s) ({', '.join(p['summary']['new_error_codes'])}); "
                            "it cannot be approved or applied")


def router(settings: Settings, *, on_apply: Callable[[int, int], None] | None = None) -> APIRouter:
    """The proposal routes; ``on_apply(proposal id, version)`` runs inside the transaction that
    applies a proposal, every layer written, before it commits (tests hold it there:
    :func:`api.testing.apply_delay`)."""
    api = APIRouter(tags=["proposals"])

    def draft(request: Request, user: User, body: Draft) -> tuple[City, str, gpd.GeoDataFrame]:
        """The stored city, the rule set and the street's units of a draft (stored ones without units)."""
        rules = _rule_set(settings, user, body.street_code, body.rules)
        city = _city(request, body.street_code, body.base_version)
        _has(city, body.level)
        if body.units is not None:
            return city, rules, parse_units(body.units, city, body.street_code, body.level)
        lay = city[body.level]
        return city, rules, lay[in_street(city, body.level, body.street_code)][["code", "name", lay.geometry.name]]

    @api.post("/proposals/preview", summary="The review of new units (sizes, findings), not saved")
    def preview(request: Request, body: Draft, user: User = Depends(role("street_staff", "planner"))):
        city, rules, units = draft(request, user, body)
        new, _ = proposed_city(city, body.street_code, body.level, units)
        return json_response({"level": body.level, **review(city, new, body.street_code, body.level, rules,
                                                            body.base_version)})

    @api.post("/proposals/draw", summary="Give a drawn area to one unit: the new units and their review, not saved")
    def drawn(request: Request, body: Drawn, user: User = Depends(role("street_staff", "planner"))):
        city, rules, units = draft(request, user, body)
        street, level, ruleset = body.street_code, body.level, load_rules(rules)
        if (body.area is None) == (body.estate is None or body.grid is None):
            raise ProposalError("需要画出的范围，或小区名和它所在的网格 (give either area, or estate and grid)")
        if body.area is not None:
            area = read_area(body.area, city)
        elif level != "grids":
            raise ProposalError("小区在网格之间划转 (estates move between grids: level must be grids)")
        else:
            area, along = estate_area(city, units, body.estate, body.grid, body.to)
        new_units, info = draw(city, street, level, units, area, body.to)
        if body.area is None:
            info["estate"] = {"name": body.estate, "grid": body.grid, "with": along}
        before = street_findings(proposed_city(city, street, level, units)[0], street, ruleset)["findings"]
        new, _ = proposed_city(city, street, level, new_units)
        found = street_findings(new, street, ruleset)
        broken = [f for f in new_findings(before, found["findings"], ruleset) if f["code"] in COVERAGE_CODES]
        if broken:
            raise ProposalError("画出的范围未采用，它会带来新的问题：" + "；".join(f["message"] for f in broken[:5]) +
                                f" (the drawn area would add {', '.join(sorted({f['code'] for f in broken}))})")
        return json_response({"level": level, "units": feature_collection(new_units), **info,
                              **review(city, new, street, level, rules, body.base_version, found)})

    @api.post("/proposals", status_code=201, summary="Propose new boundaries for one street")
    def create(request: Request, body: NewProposal, user: User = Depends(role("street_staff", "planner"))):
        rules = _rule_set(settings, user, body.street_code, body.rules)
        if (body.units is None) == (body.operation is None):
            raise ProposalError("send either units (a FeatureCollection) or an operation (rebalance, merge, split)")
        if body.units is not None and body.level is None:
            raise ProposalError("level (communities or grids) is required with units")
        op = None if body.operation is None else {"operation": body.operation, "parent": body.parent,
                                                  "unit": body.unit, "k": body.k}
        level, units_fc, rv = _evaluate(request, body.street_code, body.level, body.units, op, rules,
                                        body.base_version)
        p = repository.create(_store(request), dict(
            street_code=body.street_code, level=level, title=body.title, reason=body.reason,
            base_version=body.base_version, operation=op, rules=rules, units=units_fc, review=rv), user.username)
        response = json_response(p)
        response.status_code = 201
        response.headers["Location"] = f"/proposals/{p['id']}"
        return response

    @api.get("/proposals", summary="Proposals (a street's staff: their street's)")
    def listing(request: Request, user: User = Depends(signed_in),
                state: Annotated[State | None, Query()] = None,
                street_code: Annotated[str | None, Query()] = None):
        streets = [user.street_code] if user.role == "street_staff" else []
        if street_code:
            streets.append(street_code)
        return json_response({"proposals": repository.listing(_store(request), state=state, streets=tuple(streets))})

    @api.get("/proposals/{pid}", summary="One proposal, with its review")
    def one(request: Request, pid: int, user: User = Depends(signed_in)):
        return json_response(_visible(request, user, pid))

    @api.put("/proposals/{pid}", summary="Change a draft (its author)")
    def change(request: Request, pid: int, body: Change, user: User = Depends(signed_in)):
        p = _visible(request, user, pid)
        if p["author"] != user.username:
            raise ForbiddenError(f"only its author ({p['author']}) changes proposal {pid}")
        if p["state"] != "draft":
            raise ConflictError(f"proposal {pid} is {p['state']}: only a draft can be changed")
        values = {k: v for k, v in (("title", body.title), ("reason", body.reason)) if v is not None}
        if body.units is not None or body.base_version is not None:
            base = body.base_version or p["base_version"]
            units = body.units if body.units is not None else p["units"]
            _, units_fc, rv = _evaluate(request, p["street_code"], p["level"], units, None, p["rules"], base)
            values.update(units=units_fc, review=rv, base_version=base, operation=None if body.units else p["operation"])
        return json_response(repository.change_draft(_store(request), pid, values))

    @api.post("/proposals/{pid}/submit", summary="Submit a draft for review (its author)")
    def submit(request: Request, pid: int, user: User = Depends(signed_in)):
        p = _visible(request, user, pid)
        if p["author"] != user.username:
            raise ForbiddenError(f"only its author ({p['author']}) submits proposal {pid}")
        return json_response(repository.move(_store(request), pid, "submitted", user.username, None))

    @api.post("/proposals/{pid}/approve", summary="Approve a submitted proposal (reviewer)")
    def approve(request: Request, pid: int, body: Annotated[Why | None, Body()] = None,
                user: User = Depends(role("reviewer"))):
        _visible(request, user, pid)
        return json_response(repository.move(_store(request), pid, "approved", user.username,
                                             body.why if body else None, check=_no_new_errors))

    @api.post("/proposals/{pid}/reject", summary="Reject a proposal, saying why (reviewer)")
    def reject(request: Request, pid: int, body: Why, user: User = Depends(role("reviewer"))):
        _visible(request, user, pid)
        if not (body.why or "").strip():
            raise ProposalError("why: say why the proposal is rejected")
        return json_response(repository.move(_store(request), pid, "rejected", user.username, body.why))

    @api.post("/proposals/{pid}/apply", summary="Apply an approved proposal: one new city version, all or nothing")
    def apply(request: Request, pid: int, body: Annotated[ApplyBody | None, Body()] = None,
              if_match: Annotated[str | None, Header()] = None,
              user: User = Depends(role("reviewer", "admin"))):
        p = _visible(request, user, pid)
        seen = body.base_version if body is not None else None
        if if_match is not None:
            text = if_match.strip().removeprefix("W/").strip('"')
            if not text.isdigit():
                raise ProposalError(f"If-Match must be the city version the proposal was made on; got {if_match!r}")
            seen = int(text)
        if seen is None:
            raise ProposalError("send the city version you reviewed: header If-Match: <base_version> "
                                "or {\"base_version\": n}")
        if seen != p["base_version"]:
            raise StaleError(f"proposal {pid} was made on version {p['base_version']}, you sent {seen}")
        if not allowed(p["state"], "applied"):
            raise ConflictError(f"proposal {pid} is {p['state']}: only an approved proposal can be applied")
        _no_new_errors(p)
        store = _store(request)
        version, city = store.snapshot()
        if version != p["base_version"]:
            raise StaleError(f"the city is at version {version}; proposal {pid} was made on version "
                             f"{p['base_version']}: it must be drawn again on the current city")
        units = parse_units(p["units"], city, p["street_code"], p["level"])
        new, changed = proposed_city(city, p["street_code"], p["level"], units)
        if review(city, new, p["street_code"], p["level"], p["rules"], version)["summary"]["new_errors"]:
            raise ConflictError(f"proposal {pid} adds errors to the current city; it cannot be applied")

        def record(conn, v):
            repository.mark_applied(conn, pid, v, user.username)
            if on_apply is not None:
                on_apply(pid, v)

        store.commit({name: new[name] for name in changed}, base_version=version, action="apply",
                     source=f"proposal {pid}", author=user.username, why=p["title"] + (
                         f": {p['reason']}" if p["reason"] else ""), proposal_id=pid,
                     street_code=p["street_code"], before_commit=record)
        return json_response(repository.get(store, pid))

    @api.get("/history", summary="Versions of the city: who, when, why, which proposal")
    def history(request: Request, user: User | None = Depends(reader)):
        rows = _store(request).history()
        if user is not None and user.role == "street_staff":
            rows = [r for r in rows if r.get("street_code") in (None, user.street_code)]
        return json_response({"versions": [{"version": r["version"], "at": r["created_at"].isoformat(),
                                            "action": r["action"], "by": r.get("author"), "why": r.get("why"),
                                            "proposal_id": r.get("proposal_id"), "street_code": r.get("street_code"),
                                            "source": r["source"],
                                            "layers": {k: v["count"] for k, v in r["layers"].items()}} for r in rows]})

    return api
