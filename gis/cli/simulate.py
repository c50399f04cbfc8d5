"""``wangge simulate …``: plans that merge, split, rebalance, redraw or repair units; apply a saved plan.

Exit code: 0 the plan is feasible, 1 it is not (the best plan is still written, its causes
printed), 2 the input could not be read, 3 the plan, map or city could not be written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gis.cli.common import CITY, RULES, err, fail
from gis.errors import WanggeError

app = typer.Typer(help="Plans: merge, split, rebalance, redraw, repair units under the size rules.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)

OUT = typer.Option(None, "--out", "-o", help="Write the plan to OUT.gpkg + OUT.json.")
MAP = typer.Option(None, "--map", "-m", help="Write a map of the plan (HTML, works offline).")
APPLY = typer.Option(None, "--apply", help="Write the city with the plan applied to this GeoPackage.")
LEVEL = typer.Option("communities", help="Level of the units: streets (moved as whole communities), communities "
                                               "(whole grids) or grids (their land cut along the roads and barriers "
                                               "layers).")
FIXED = typer.Option(None, "--fixed", help="A unit that must not change (repeat for several).")
WORK_UNITS = typer.Option(False, "--reshape-work-units", help="Let the plan change work-unit communities "
                                                             "(单位型社区), which it leaves whole by default.")
JSON = typer.Option(False, "--json", help="Print the summary and sizes as JSON instead of a table.")


def _run(make, city: Path, out, map_, apply_to, as_json: bool):
    from gis import read_city
    from gis.io import write_city

    try:
        with err.status("reading…") as status:
            c = read_city(city)
            status.update("planning…")
            plan = make(c)
            if out:
                plan.save(out)
            if map_:
                from gis.maps import save_map
                from gis.simulate import plan_map
                save_map(plan_map(plan), map_)
            if apply_to:
                write_city(plan.apply(c), apply_to)
    except WanggeError as e:
        fail(e)
    _report(plan, as_json)
    raise typer.Exit(0 if plan.feasible else 1)


def _report(plan, as_json: bool) -> None:
    s = plan.summary
    if as_json:
        sizes = json.loads(plan.sizes.reset_index().to_json(orient="records", force_ascii=False))
        sys.stdout.write(json.dumps({"summary": s, "sizes": sizes}, ensure_ascii=False, default=str) + "\n")
        return
    console = Console()
    table = Table(title=f"wangge simulate {plan.operation} — {plan.level} of {plan.parent or 'all'} "
                        f"({plan.rule_set})")
    cols = ["households_before", "households_after", "area_change_m2", "pp_before", "pp_after", "status", "ok"]
    table.add_column("code")
    for c in cols:
        table.add_column(c, justify="right")
    for code, r in plan.table().iterrows():
        table.add_row(str(code), *("" if v != v else f"{v:,}" if isinstance(v, (int, float)) and not isinstance(v, bool)
                                   else str(v) for v in (r[c] for c in cols)))
    console.print(table)
    console.print(f"feasible: {s.get('feasible')} · units {s.get('units_before')} → {s.get('units_after')} · "
                  f"households moved {s.get('households_moved', 0):,} · errors in result {s.get('result_errors')}")
    for cause in s.get("causes", []):
        console.print(f"[yellow]cause:[/] {escape(str(cause))}", soft_wrap=True)


def _keep(fixed, work_units) -> dict:
    """The ``fixed`` / ``keep_kinds`` arguments of merge, rebalance and redraw from the CLI options."""
    return {"fixed": fixed or [], **({"keep_kinds": ()} if work_units else {})}


@app.command()
def merge(city: Path = CITY, unit: list[str] = typer.Argument(None, help="Unit code(s) to merge away."),
          parent: Optional[str] = typer.Option(None, help="Merge every unit below its minimum under this parent."),
          level: str = LEVEL, rules: str = RULES, fixed: Optional[list[str]] = FIXED, work_units: bool = WORK_UNITS,
          out: Optional[Path] = OUT, map_: Optional[Path] = MAP, apply_to: Optional[Path] = APPLY,
          as_json: bool = JSON):
    """Merge under-sized units into the neighbour that best fixes sizes."""
    from gis.simulate import merge as run

    _run(lambda c: run(c, unit or None, level=level, parent=parent, rules=rules, **_keep(fixed, work_units)), city,
         out, map_, apply_to, as_json)


@app.command()
def split(city: Path = CITY, unit: str = typer.Argument(..., help="Unit code to split."),
          k: Optional[int] = typer.Option(None, "-k", help="Number of parts (default: fewest within the maximum)."),
          level: str = LEVEL, rules: str = RULES,
          seed: int = typer.Option(0, help="Seed of the random spanning trees."),
          out: Optional[Path] = OUT, map_: Optional[Path] = MAP, apply_to: Optional[Path] = APPLY,
          as_json: bool = JSON):
    """Split an over-sized unit into k contiguous parts within bounds."""
    from gis.simulate import split as run

    _run(lambda c: run(c, unit, k=k, level=level, rules=rules, seed=seed), city, out, map_, apply_to, as_json)


@app.command()
def rebalance(city: Path = CITY, parent: str = typer.Argument(..., help="Parent code (e.g. a street)."),
              level: str = LEVEL, rules: str = RULES, fixed: Optional[list[str]] = FIXED,
              work_units: bool = WORK_UNITS,
              out: Optional[Path] = OUT, map_: Optional[Path] = MAP, apply_to: Optional[Path] = APPLY,
              as_json: bool = JSON):
    """Move whole blocks between neighbouring units of a parent until all are within bounds."""
    from gis.simulate import rebalance as run

    _run(lambda c: run(c, parent, level=level, rules=rules, **_keep(fixed, work_units)), city, out, map_, apply_to,
         as_json)


@app.command()
def redraw(city: Path = CITY, parent: str = typer.Argument(..., help="Parent code (e.g. a street)."),
           k: Optional[int] = typer.Option(None, "-k", "--k", help="Number of units (default: the current number "
                                                                   "clamped to what the bounds allow)."),
           level: str = LEVEL, rules: str = RULES, fixed: Optional[list[str]] = FIXED, work_units: bool = WORK_UNITS,
           seed: int = typer.Option(0, help="Seed of the random spanning trees."),
           out: Optional[Path] = OUT, map_: Optional[Path] = MAP, apply_to: Optional[Path] = APPLY,
           as_json: bool = JSON):
    """Draw all units of a parent afresh: contiguous, within bounds, fewest households moved."""
    from gis.simulate import redraw as run

    _run(lambda c: run(c, parent, level=level, k=k, rules=rules, seed=seed, **_keep(fixed, work_units)), city, out,
         map_, apply_to, as_json)


@app.command()
def repair(city: Path = CITY, level: str = typer.Option("streets", help="Level to repair (to fit with --fit-parent: "
                                                                        "grids or communities)."),
           rules: str = RULES,
           gap_width: Optional[float] = typer.Option(None, help="Fill only gaps narrower than this (m); "
                                                                "default: every enclosed gap."),
           fit_parent: bool = typer.Option(False, "--fit-parent", help=(
               "Instead, fit each unit of --level to its parent (grids to their communities, communities "
               "to their streets): cut off the parts outside it that are slivers (mean width under the rule "
               "set's sliver_width_m) and give each sliver of the parent no unit covers to its unit with the "
               "longest shared border. Buildings stay whole: a sliver holding part of a building goes, whole, "
               "to the unit holding the building, or is left alone. Wider parts outside or uncovered are "
               "real errors: left alone and listed (exit 1).")),
           out: Optional[Path] = OUT, map_: Optional[Path] = MAP, apply_to: Optional[Path] = APPLY,
           as_json: bool = JSON):
    """Make a level a valid coverage: trim overlaps, fill gaps, match shared edges (or, with
    --fit-parent, fit it to the level above)."""
    from gis.simulate import fit_parent as fit
    from gis.simulate import repair as run

    if fit_parent and gap_width is not None:
        raise typer.BadParameter("applies to repair, not to --fit-parent (slivers are the rule set's "
                                 "sliver_width_m)", param_hint="--gap-width")
    make = ((lambda c: fit(c, level=level, rules=rules)) if fit_parent
            else (lambda c: run(c, level=level, rules=rules, gap_width=gap_width)))
    _run(make, city, out, map_, apply_to, as_json)


@app.command()
def apply(city: Path = CITY, plan: Path = typer.Argument(..., help="A plan written with --out (.gpkg or .json)."),
          out: Path = typer.Option(..., "--out", "-o", help="Write the new city to this GeoPackage.")):
    """Apply a saved plan to a city and write the result."""
    from gis import read_city
    from gis.io import write_city
    from gis.simulate import load_plan

    try:
        write_city(load_plan(plan).apply(read_city(city)), out)
    except WanggeError as e:
        fail(e)
    err.print(f"written: {out}")
