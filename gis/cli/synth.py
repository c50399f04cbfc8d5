"""``wangge synth``: generate a synthetic city and the manifest of the errors planted in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from gis.cli.common import err, fail
from gis.errors import InputError, WanggeError

app = typer.Typer()


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
        fail(e)
    except ValueError as e:  # an unknown planted code, too few grids for the plants
        fail(InputError(str(e)))
    mpath = manifest or out.with_suffix(".manifest.json")
    rows = json.loads(planted.to_json(orient="records", force_ascii=False))
    mpath.write_text(json.dumps({"grids": grids, "seed": seed, "planted": rows}, ensure_ascii=False, indent=1),
                     encoding="utf-8")
    sizes = ", ".join(f"{len(city[lyr]):,} {lyr}" for lyr in city.layers)
    err.print(f"{out}: {sizes}; {len(planted)} planted findings listed in {mpath}")
