"""``wangge coverage``: facility standards, walking coverage along the roads, suggested sites."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gis.cli.common import CITY, FORMAT, RULES, Format, err, fail
from gis.errors import WanggeError

app = typer.Typer()


@app.command()
def coverage(
    city: Path = CITY,
    rules: str = RULES,
    kind: list[str] = typer.Option([], "--kind", "-k", help="Facility kind (repeatable); default: every kind "
                                                            "with a walking rule, and cameras."),
    minutes: Optional[int] = typer.Option(None, help="Walk 5, 10 or 15 minutes instead of each rule's own."),
    site: int = typer.Option(0, help="Suggest this many new sites per kind with uncovered households."),
    map_: Optional[Path] = typer.Option(None, "--map", "-m", help="Write a coverage map (HTML, works offline)."),
    fmt: Format = FORMAT,
    strict_network: bool = typer.Option(False, "--strict-network",
                                        help="Refuse a road network in several unconnected pieces (exit 2) "
                                             "instead of reporting each piece but the largest as a "
                                             "network_piece warning."),
):
    """Facility standards per community and walking coverage of buildings along the roads.

    The rule set gives the standards and each kind's walking distance. A road network in
    unconnected pieces is walked as it is: a building on a piece without a facility of a kind is
    uncovered, and each piece but the largest is a network_piece warning.

    Exit code: 0 done (shortfalls, uncovered buildings and network pieces are warnings), 2 the input
    could not be read (or, with --strict-network, the roads fall apart in pieces), 3 the map could
    not be written.
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
        fail(e)
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
