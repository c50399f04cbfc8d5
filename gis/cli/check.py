"""``wangge check``: read a city, check it, print or write the findings."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from gis.cli.common import CITY, FORMAT, RULES, Format, err, fail
from gis.errors import WanggeError

app = typer.Typer()


@app.command()
def check(
    city: Path = CITY,
    rules: str = RULES,
    fmt: Format = FORMAT,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the findings to this GeoPackage."),
    map_: Optional[Path] = typer.Option(None, "--map", "-m", help="Write a map of the findings (HTML, works offline)."),
    limit: int = typer.Option(100, help="Rows shown in the table (all rows go to --out and json)."),
):
    """Check topology (不交叉、不跨社区、地无空白、人无遗漏) and size rules.

    Exit code: 0 no errors, 1 errors found, 2 the input could not be read, 3 the findings or map
    could not be written.
    """
    from gis import check as run_check, read_city
    from gis.findings import to_json, write_gpkg

    try:
        with err.status("reading…") as status:
            c = read_city(city)
            found = run_check(c, rules, progress=lambda m: status.update(f"checking {m}…"))
            if out:
                status.update(f"writing {out}…")
                write_gpkg(found, out)
            if map_:
                from gis.maps import findings_map, save_map
                status.update(f"drawing {map_}…")
                save_map(findings_map(c, found), map_)
    except WanggeError as e:
        fail(e)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(to_json(found), ensure_ascii=False) + "\n")
    else:
        _print_table(found, limit)
        for path, what in ((out, "findings"), (map_, "map")):
            if path:
                err.print(f"{what}: {path}")
    raise typer.Exit(1 if found.summary["errors"] else 0)


def _print_table(found, limit: int) -> None:
    console = Console()
    table = Table(title=f"wangge check — rule set {found.summary['rule_set']}", show_lines=False)
    for col in ("severity", "layer", "code", "ids", "area m²", "message"):
        table.add_column(col, overflow="fold")
    for r in found.head(limit).itertuples():
        colour = "red" if r.severity == "error" else "yellow"
        area = "" if r.area_m2 != r.area_m2 else f"{r.area_m2:,.1f}"
        table.add_row(f"[{colour}]{r.severity}[/]", r.layer, r.code, ", ".join(map(str, r.ids)), area, r.message)
    if len(found) and limit > 0:
        console.print(table)
    if len(found) > limit:
        console.print(f"… {len(found) - limit} more findings (use --out or --format json for all)")
    counts = Table(title="summary")
    for col in ("layer", "features", "errors", "warnings"):
        counts.add_column(col, justify="right" if col != "layer" else "left")
    for layer, s in found.summary["layers"].items():
        counts.add_row(layer, f"{s['features']:,}", str(s["errors"]), str(s["warnings"]))
    console.print(counts)
