"""``/findings``: ``gis.check`` on the stored city (the function ``wangge check`` calls), cached per
city version and rule set; a street's staff get the check of their street (as ``simulate`` limits it)."""


import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.auth import User, reader, scope_of
from api.errors import InvalidParameterError
from api.proposals.review import limited, street_mask
from api.routes.responses import json_response
from api.settings import Settings
from api.store import Store
from gis.check import check
from gis.findings import to_json
from gis.rules import available


class FindingsCache:
    """The JSON findings of the last few (city version, rule set) pairs; each computed once."""

    def __init__(self, store: Store, size: int):
        self.store, self.size = store, size
        self._done: OrderedDict[tuple[int, str], dict] = OrderedDict()
        self._lock = threading.Lock()  # check is CPU-bound: one at a time, and never twice for a key

    def get(self, rules: str, scope=None) -> dict:
        """Findings of the city under ``rules``; with a street's ``scope``, those about that street."""
        with self._lock:
            version = self.store.version()
            if (version, rules) not in self._done:
                version, city = self.store.snapshot()
                found = check(city, rules)
                self._done[(version, rules)] = (found, {"version": version, **to_json(found)})
                while len(self._done) > self.size:
                    self._done.popitem(last=False)
            self._done.move_to_end((version, rules))
            found, body = self._done[(version, rules)]
        if scope is None:
            return body
        mask = street_mask(found, scope.street, scope.codes["grids"][1], scope.area)
        return {"version": version, **limited(found, mask, scope.street)}

    def __len__(self) -> int:
        return len(self._done)


def router(settings: Settings) -> APIRouter:
    api = APIRouter()

    @api.get("/findings", summary="Findings of the stored city (wangge check)")
    def findings(request: Request,
                 rules: Annotated[str, Query(description=f"a bundled rule set: {', '.join(available())}")]
                 = settings.default_rules, user: User | None = Depends(reader)):
        if rules not in available():
            raise InvalidParameterError(f"unknown rule set {rules!r}; bundled: {', '.join(available())}")
        return json_response(request.app.state.findings.get(rules, scope_of(request, user)))

    return api
