"""Rule sets as data: tolerances, the topology principles with their sources, and size bounds.

A rule set is a TOML file (``gis/rulesets/*.toml`` or the user's own). ``extends`` names a rule set
whose size rules follow this one's and whose other values this one overrides. For each unit the
first size rule of its level whose ``where`` matches the unit's columns applies.

Examples
--------
>>> rs = load_rules("nanchang-2002")
>>> rs.name, rs.area_tolerance
('nanchang-2002', 1.0)
>>> [(r.min, r.max, r.merge_below) for r in rs.sizes if r.level == "streets"]
[(40000, 60000, 30000)]
>>> rs.principle("不交叉")[0]
'002'
>>> rs.walking[10], [(f.kinds, f.min_count) for f in rs.facilities if f.min_count]
(500.0, [(('police_room',), 1)])
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from gis.errors import RuleSetError

MEASURES = ("households", "residents")
#: The rule set used when none is named: by check, coverage, plans, repair, the CLI and the server.
DEFAULT_RULES = "national"


@dataclass(frozen=True)
class SizeRule:
    """Bounds on one measure of the units of one level (optionally only those matching ``where``)."""

    level: str
    measure: str
    min: float | None = None
    max: float | None = None
    merge_below: float | None = None
    where: dict = field(default_factory=dict)
    rule: str = ""
    source: str = ""
    quote: str = ""

    def matches(self, units: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the units this rule's ``where`` selects."""
        mask = np.ones(len(units), dtype=bool)
        for col, want in self.where.items():
            if col not in units:
                return np.zeros(len(units), dtype=bool)
            wants = want if isinstance(want, list) else [want]
            mask &= units[col].isin(wants).to_numpy()
        return mask


#: Levels a facility standard can apply to.
FACILITY_LEVELS = ("communities", "streets")


@dataclass(frozen=True)
class FacilityRule:
    """A service standard for the facilities of ``kinds`` in each unit of ``level``.

    Any of: ``min_count`` facilities per unit; the largest at least ``min_floor_area_m2``;
    ``per_100_households_m2`` of floor area per 100 households; rooms by estate floor area
    (``per_estate``: ``base_m2`` up to ``up_to_m2`` of building area, ``step_m2`` more per further
    ``every_m2``); every building within ``walk_minutes`` on foot (distances in ``RuleSet.walking``);
    cameras seeing ``view_radius_m`` around them.
    """

    kinds: tuple[str, ...]
    level: str = "communities"
    min_count: int | None = None
    min_floor_area_m2: float | None = None
    per_100_households_m2: float | None = None
    per_estate: dict | None = None
    walk_minutes: int | None = None
    view_radius_m: float | None = None
    rule: str = ""
    source: str = ""
    quote: str = ""


def _facility_rule(i: int, spec: dict, where: str) -> FacilityRule:
    spec = dict(spec)
    kind = spec.pop("kind", None)
    kinds = tuple(kind) if isinstance(kind, list) else (kind,)
    if not kinds or not all(isinstance(k, str) and k for k in kinds):
        raise RuleSetError(f"facility rule {i + 1}: 'kind' must be a facility kind or a list of them", file=where)
    try:
        rule = FacilityRule(kinds=kinds, **spec)
    except TypeError as e:
        raise RuleSetError(f"facility rule {i + 1}: {e}", file=where) from None
    if rule.level not in FACILITY_LEVELS:
        raise RuleSetError(f"facility rule {i + 1}: level must be one of {', '.join(FACILITY_LEVELS)}, "
                           f"got {rule.level!r}", file=where)
    estate_keys = {"base_m2", "up_to_m2", "step_m2", "every_m2"}
    if rule.per_estate is not None and set(rule.per_estate) != estate_keys:
        raise RuleSetError(f"facility rule {i + 1}: per_estate needs exactly {', '.join(sorted(estate_keys))}",
                           file=where)
    return rule


def _walking(data: dict, where: str) -> dict[int, float]:
    try:
        return {int(k): float(v) for k, v in data.get("walking", {}).get("minutes", {}).items()}
    except (TypeError, ValueError):
        raise RuleSetError("[walking] minutes must map minutes to metres, e.g. { 5 = 300 }", file=where) from None


@dataclass(frozen=True)
class RuleSet:
    name: str
    title: str = ""
    area_tolerance: float = 1.0
    sliver_width: float = 1.0
    principles: dict = field(default_factory=dict)
    sizes: tuple[SizeRule, ...] = ()
    facilities: tuple[FacilityRule, ...] = ()
    walking: dict = field(default_factory=dict)
    walking_source: str = ""
    impact: dict = field(default_factory=dict)  # [impact.committee|police|budget]: gis.impact

    def principle(self, rule: str) -> tuple[str, str]:
        """(source, quote) of a topology principle."""
        return tuple(self.principles.get(rule, ("", "")))


def available() -> list[str]:
    """Names of the bundled rule sets."""
    return sorted(p.name[:-5] for p in resources.files("gis.rulesets").iterdir() if p.name.endswith(".toml"))


def _read(name_or_path: str | Path) -> tuple[dict, str]:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise RuleSetError("rule set file not found", file=p)
        text, where = p.read_text(encoding="utf-8"), str(p)
    else:
        f = resources.files("gis.rulesets") / f"{name_or_path}.toml"
        if not f.is_file():
            raise RuleSetError(f"unknown rule set {name_or_path!r}; bundled: {', '.join(available())}")
        text, where = f.read_text(encoding="utf-8"), f"{name_or_path}.toml"
    try:
        return tomllib.loads(text), where
    except tomllib.TOMLDecodeError as e:
        raise RuleSetError(f"not valid TOML: {e}", file=where) from None


def load_rules(name_or_path: str | Path = DEFAULT_RULES, _seen: tuple = ()) -> RuleSet:
    """Load a bundled rule set by name or a user's TOML file by path."""
    if isinstance(name_or_path, RuleSet):
        return name_or_path
    data, where = _read(name_or_path)
    base = RuleSet(name="")
    if "extends" in data:
        if data["extends"] in _seen:
            raise RuleSetError(f"rule sets extend each other in a cycle: {data['extends']}", file=where)
        base = load_rules(data["extends"], _seen + (data.get("name"),))
    tol = data.get("tolerance", {})
    sizes = []
    for i, s in enumerate(data.get("sizes", [])):
        try:
            rule = SizeRule(**s)
        except TypeError as e:
            raise RuleSetError(f"size rule {i + 1}: {e}", file=where) from None
        if rule.level not in ("streets", "communities", "grids") or rule.measure not in MEASURES:
            raise RuleSetError(f"size rule {i + 1}: level must be streets/communities/grids and measure "
                               f"households/residents, got {rule.level!r}/{rule.measure!r}", file=where)
        sizes.append(rule)
    walking = {**base.walking, **_walking(data, where)}
    facilities = tuple(_facility_rule(i, f, where) for i, f in enumerate(data.get("facilities", [])))
    for f in facilities:
        if f.walk_minutes is not None and f.walk_minutes not in walking:
            raise RuleSetError(f"facility rule for {'/'.join(f.kinds)}: walk_minutes = {f.walk_minutes} is not in "
                               f"[walking] minutes ({', '.join(map(str, sorted(walking))) or 'none'})", file=where)
    return RuleSet(
        name=data.get("name", Path(str(name_or_path)).stem),
        title=data.get("title", base.title),
        area_tolerance=float(tol.get("area_m2", base.area_tolerance)),
        sliver_width=float(tol.get("sliver_width_m", base.sliver_width)),
        principles={**base.principles, **data.get("principles", {})},
        sizes=tuple(sizes) + base.sizes,
        facilities=facilities + base.facilities,
        walking=walking,
        walking_source=data.get("walking", {}).get("source", base.walking_source),
        impact={**base.impact, **_impact(data, where)},
    )


#: What each ``[impact.*]`` table must give (gis.impact).
IMPACT_KEYS = {"committee": ("director", "deputies"), "police": ("officers",), "budget": ("yuan",)}


def _impact(data: dict, where) -> dict:
    spec = data.get("impact", {})
    for table, values in spec.items():
        if table not in IMPACT_KEYS or not isinstance(values, dict):
            raise RuleSetError(f"[impact.{table}] is not one of {', '.join(f'[impact.{k}]' for k in IMPACT_KEYS)}",
                               file=where)
        for k in IMPACT_KEYS[table]:
            if not isinstance(values.get(k), (int, float)) or values[k] < 0:
                raise RuleSetError(f"[impact.{table}] needs {k} = a number ≥ 0", file=where)
    return spec
