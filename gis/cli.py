"""The ``wangge`` command line: parse, call the ``gis`` functions, format. Nothing else lives here."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gis.errors import WanggeError, exit_code

app = typer.Typer(help="wangge (网格): check and plan the boundaries of streets, communities and grids.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err = Console(stderr=True)


class Format(str, Enum):
    table = "table"
    json = "json"


def _fail(e: WanggeError) -> None:
    err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code(e))


@app.command()
def check(
    city: Path = typer.Argument(..., help="City: a GeoPackage in the standard layout, or a mapping file (.toml)."),
    rules: str = typer.Option("national", "--rules", "-r",
                              help="Rule set: national, nanchang-2002, tiemenguan-2018, or a TOML file."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table (default) or json on stdout."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the findings to this GeoPackage."),
    map_: Optional[Path] = typer.Option(None, "--map", "-m", help="Write a map of the findings (HTML, works offline)."),
    limit: int = typer.Option(100, help="Rows shown in the table (all rows go to --out and json)."),
):
    """Check topology (不交叉、不跨社区、地无空白、人无遗漏) and size rules.

    Exit code: 0 no errors, 1 errors found, 2 the input could not be read.
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
        _fail(e)
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


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", "-o", help="GeoPackage to write."),
    grids: int = typer.Option(60, help="Number of grids (a few dozen to 1,000,000)."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same city."),
    plant: list[str] = typer.Option([], help="Plant errors: CODE or CODE=N (repeatable); 'all' plants one of each."),
    buildings_per_grid: int = typer.Option(40, help="Mean buildings per grid."),
    points: bool = typer.Option(False, help="Buildings as points (for very large cities)."),
    manifest: Optional[Path] = typer.Option(None, help="Where to write the manifest of planted errors (JSON); "
                                                     "default OUT with .manifest.json."),
):
    """Generate a synthetic city (streets → communities → grids → buildings, roads, facilities)."""
    from gis.io import write_city
    from gis.synth import PLANT_ALL, synth as make

    plants: dict[str, int] = {}
    for p in plant:
        if p == "all":
            plants.update(PLANT_ALL)
            continue
        code, _, n = p.partition("=")
        plants[code] = int(n or 1)
    try:
        with err.status("generating…") as status:
            city, planted = make(grids, seed, plants or None, buildings_per_grid=buildings_per_grid,
                                 building_shape="point" if points else "polygon",
                                 progress=lambda m: status.update(m))
            status.update(f"writing {out}…")
            write_city(city, out)
    except WanggeError as e:
        _fail(e)
    except ValueError as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(2)
    mpath = manifest or out.with_suffix(".manifest.json")
    rows = json.loads(planted.to_json(orient="records", force_ascii=False))
    mpath.write_text(json.dumps({"grids": grids, "seed": seed, "planted": rows}, ensure_ascii=False, indent=1),
                     encoding="utf-8")
    sizes = ", ".join(f"{len(city[lyr]):,} {lyr}" for lyr in city.layers)
    err.print(f"{out}: {sizes}; {len(planted)} planted findings listed in {mpath}")


@app.command("rules")
def rules_(name: Optional[str] = typer.Argument(None, help="Show this rule set; omit to list them.")):
    """List the bundled rule sets, or show one's size rules and sources."""
    from gis.rules import available, load_rules

    if name is None:
        for n in available():
            typer.echo(f"{n}\t{load_rules(n).title}")
        return
    try:
        rs = load_rules(name)
    except WanggeError as e:
        _fail(e)
    table = Table(title=f"{rs.name}: {rs.title}")
    for col in ("level", "where", "measure", "min", "max", "merge below", "source", "quote"):
        table.add_column(col, overflow="fold")
    for r in rs.sizes:
        table.add_row(r.level, json.dumps(r.where, ensure_ascii=False) if r.where else "", r.measure,
                      *(f"{v:,}" if v is not None else "" for v in (r.min, r.max, r.merge_below)), r.source, r.quote)
    Console().print(table)
    Console().print(f"tolerance: area {rs.area_tolerance} m², sliver width {rs.sliver_width} m")


@app.command()
def coverage(
    city: Path = typer.Argument(..., help="City: a GeoPackage in the standard layout, or a mapping file (.toml)."),
    rules: str = typer.Option("national", "--rules", "-r",
                              help="Rule set (facility and walking rules): national, nanchang-2002, "
                                   "tiemenguan-2018, or a TOML file."),
    kind: list[str] = typer.Option([], "--kind", "-k", help="Facility kind (repeatable); default: every kind "
                                                            "with a walking rule, and cameras."),
    minutes: Optional[int] = typer.Option(None, help="Walk 5, 10 or 15 minutes instead of each rule's own."),
    site: int = typer.Option(0, help="Suggest this many new sites per kind with uncovered households."),
    map_: Optional[Path] = typer.Option(None, "--map", "-m", help="Write a coverage map (HTML, works offline)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table (default) or json on stdout."),
    strict_network: bool = typer.Option(False, "--strict-network",
                                        help="Refuse a road network in several unconnected pieces (exit 2) "
                                             "instead of reporting each piece but the largest as a "
                                             "network_piece warning."),
):
    """Facility standards per community and walking coverage of buildings along the roads.

    A road network in unconnected pieces is walked as it is: a building on a piece without a
    facility of a kind is uncovered, and each piece but the largest is a network_piece warning.

    Exit code: 0 done (shortfalls, uncovered buildings and network pieces are warnings), 2 the input
    could not be read (or, with --strict-network, the roads fall apart in pieces).
    """
    from gis import read_city
    from gis.coverage import coverage as run
    from gis.findings import to_json

    try:
        with err.status("reading…") as status:
            c = read_city(city)
            status.update("walking…")
            cov = run(c, rules, kinds=kind or None, minutes=minutes, site=site, connected=strict_network)
            if map_:
                from gis.maps import coverage_map, save_map
                status.update(f"drawing {map_}…")
                save_map(coverage_map(c, cov), map_)
    except WanggeError as e:
        _fail(e)
    sites = cov.sites.to_crs(4326) if cov.sites.crs is not None and len(cov.sites) else cov.sites
    site_rows = [{"kind": r.kind, "rank": int(r.rank), "households_gained": float(r.households_gained),
                  "residents_gained": float(r.residents_gained), "lon": round(r.geometry.x, 6),
                  "lat": round(r.geometry.y, 6)} for r in sites.itertuples()]
    if fmt is Format.json:
        summary = cov.summary.reset_index().to_dict("records")
        out = {"coverage": summary, "communities": cov.table.to_dict("records"), "sites": site_rows,
               "cameras": cov.cameras, **to_json(cov.findings)}
        sys.stdout.write(json.dumps(out, ensure_ascii=False, default=float) + "\n")
        return
    from gis.coverage.kinds import label

    console = Console()
    table = Table(title=f"wangge coverage — rule set {cov.findings.attrs['summary']['rule_set']}")
    for col in ("kind", "walk m", "households", "covered", "share", "uncovered buildings"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for k, r in cov.summary.iterrows():
        share = "" if r["share"] != r["share"] else f"{r['share']:.1%}"
        table.add_row(f"{label(k)} ({k})", f"{r['radius_m']:,.0f}", f"{r['households']:,.0f}",
                      f"{r['covered_households']:,.0f}", share, f"{r['uncovered_buildings']:,.0f}")
    console.print(table)
    if site_rows:
        st = Table(title="suggested sites")
        for col in ("kind", "rank", "households gained", "lon", "lat"):
            st.add_column(col)
        for r in site_rows:
            st.add_row(label(r["kind"]), str(r["rank"]), f"{r['households_gained']:,.0f}", str(r["lon"]), str(r["lat"]))
        console.print(st)
    if cov.cameras:
        cam = cov.cameras
        console.print(f"cameras: {cam['intersections_seen']:,}/{cam['intersections']:,} intersections seen, "
                      f"{cam['residential_road_seen_m']:,.0f}/{cam['residential_road_m']:,.0f} m of residential roads")
    found = cov.findings
    counts = found.groupby(["code", "rule"]).size()
    for (code, rule), n in counts.items():
        console.print(f"{code} · {rule}: {n:,}")
    cut = found[found["code"] == "network_piece"]
    for r in cut.head(10).itertuples():  # where the roads are cut: the pieces' first roads
        console.print(escape(f"  {r.message}（{', '.join(r.ids[:5])}{' …' if len(r.ids) > 5 else ''}）"))
    if len(cut) > 10:
        console.print(f"  … {len(cut) - 10:,} more pieces (--format json or --map for all)")
    if map_:
        err.print(f"map: {map_}")


from api.cli import register  # noqa: E402  load, export, serve: the store and the service

register(app)


from gis.simulate_cli import app as simulate_app  # noqa: E402  (outside gis.simulate: --help stays fast)

app.add_typer(simulate_app, name="simulate")
