"""Benchmark of ``wangge check`` on synthetic cities, against the floor and against geoplanar.

Run on demand (not in CI)::

    uv run python benchmarks/check.py                      # 10k, 100k and 1M grids
    uv run python benchmarks/check.py --sizes 10000 100000

For each size a synthetic city (``gis.synth``, planted errors of every kind, point buildings) is
generated once and cached as a GeoPackage under ``benchmarks/.cache``; a fresh process then reads it
and times, on the same data:

- **wangge**: ``gis.check`` (every topology, assignment and size check);
- **floor**: ``shapely.coverage_invalid_edges`` of the grids + one STRtree join of the buildings
  to the grids — the least work any topology + assignment check must do;
- **geoplanar**: ``geoplanar.overlaps`` + ``geoplanar.gaps`` of the grids (up to ``--geoplanar-max``).

It prints one row per size with the ratios wangge/floor (wall time, and CPU time: wangge validates
the levels' coverages in a second thread while it does the rest, the floor is single-threaded) and
geoplanar/wangge, and the peak memory (RSS) of the checking process. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


def generate(n: int) -> Path:
    from gis.io import write_city
    from gis.synth import PLANT_ALL, synth

    path = CACHE / f"city-{n}.gpkg"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        t = time.perf_counter()
        city, _ = synth(n, seed=1, plant=PLANT_ALL, building_shape="point", buildings_per_grid=4,
                        progress=lambda m: print(f"  [{n:,}] {m}", file=sys.stderr, flush=True))
        write_city(city, path)
        print(f"  [{n:,}] generated in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return path


def measure(path: Path, geoplanar_max: int) -> dict:
    import shapely

    from gis import check, read_city

    t = time.perf_counter()
    city = read_city(path)
    read_s = time.perf_counter() - t
    grids, buildings = city.metric("grids"), city.metric("buildings")
    t, c = time.perf_counter(), time.process_time()
    found = check(city)
    wangge_s, wangge_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    shapely.coverage_invalid_edges(grids.geometry.values)
    shapely.STRtree(grids.geometry.values).query(buildings.geometry.values, predicate="intersects")
    floor_s, floor_cpu = time.perf_counter() - t, time.process_time() - c
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    geoplanar_s = None
    if len(grids) <= geoplanar_max:
        import geoplanar

        t = time.perf_counter()
        geoplanar.overlaps(grids)
        geoplanar.gaps(grids)
        geoplanar_s = time.perf_counter() - t
    return {"grids": len(grids), "buildings": len(buildings), "findings": len(found), "read_s": read_s,
            "wangge_s": wangge_s, "floor_s": floor_s, "cpu_ratio": wangge_cpu / floor_cpu, "geoplanar_s": geoplanar_s, "peak_gib": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--geoplanar-max", type=int, default=100_000, help="largest city given to geoplanar")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.geoplanar_max)))
        return
    rows = []
    for n in args.sizes:
        path = generate(n)
        out = subprocess.run([sys.executable, __file__, "--one", str(path), "--geoplanar-max", str(args.geoplanar_max)],
                             check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"  [{n:,}] wangge {r['wangge_s']:.2f} s, floor {r['floor_s']:.2f} s", file=sys.stderr, flush=True)
    print(f"{'grids':>10} {'buildings':>10} {'read s':>7} {'wangge s':>9} {'floor s':>8} {'wangge/floor':>13} "
          f"{'(CPU time)':>11} "
          f"{'geoplanar s':>12} {'geoplanar/wangge':>17} {'peak GiB':>9}")
    for r in rows:
        gp = f"{r['geoplanar_s']:12.2f} {r['geoplanar_s'] / r['wangge_s']:17.1f}" if r["geoplanar_s"] else \
            f"{'—':>12} {'—':>17}"
        print(f"{r['grids']:>10,} {r['buildings']:>10,} {r['read_s']:7.1f} {r['wangge_s']:9.2f} {r['floor_s']:8.2f} "
              f"{r['wangge_s'] / r['floor_s']:13.2f} {r['cpu_ratio']:11.2f} {gp} {r['peak_gib']:9.2f}")


if __name__ == "__main__":
    main()
