"""``wangge rules``: list the bundled rule sets, or show one."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from gis.cli.common import fail
from gis.errors import WanggeError

app = typer.Typer()


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
        fail(e)
    table = Table(title=f"{rs.name}: {rs.title}")
    for col in ("level", "where", "measure", "min", "max", "merge below", "source", "quote"):
        table.add_column(col, overflow="fold")
    for r in rs.sizes:
        table.add_row(r.level, json.dumps(r.where, ensure_ascii=False) if r.where else "", r.measure,
                      *(f"{v:,}" if v is not None else "" for v in (r.min, r.max, r.merge_below)), r.source, r.quote)
    Console().print(table)
    Console().print(f"tolerance: area {rs.area_tolerance} m², sliver width {rs.sliver_width} m")
