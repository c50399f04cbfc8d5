"""Benchmark of ``wangge simulate redraw`` against GerryChain, spopt max-p and METIS.

Run on demand (not in CI)::

    uv run --group bench python benchmarks/simulate.py
    uv run --group bench python benchmarks/simulate.py --maxp-seconds 60 --seed 2

Two inputs, the same for every method (the block graph of each parent: grids, with the grids of one
estate locked into one block, household weights, edges between blocks sharing a boundary):

- **street**: one street of 50 communities over the ~2,000 grids of ``synth(2000)``, households
  scaled to ~220,000. Its current lines are 50 groups of synth's communities drawn by a plain
  recursive tree partition (uneven, some outside the bounds). Bounds: the benchmark rule set
  ``benchmarks/street-rules.toml`` (communities 3,500–5,500 households around the 4,400 mean; not a
  policy document).
- **city**: ``synth(4870)`` with 30 planted over-sized and 30 under-sized communities: ~1,000
  communities in ~70 streets, ``nanchang-2002`` (1,000–2,000 households); every method redraws every
  street (the same k per street: wangge's default, the current count clamped to what the bounds allow).

Methods: **wangge** (``gis.simulate.redraw.search``: the redraw search alone; the full ``redraw`` with the plan
and the ``check`` of its result is timed too), **GerryChain** ``recursive_tree_part`` (±10 % around
H/k), **spopt** ``MaxPHeuristic`` (floor = the minimum; max-p chooses its own number of regions; stopped
after ``--maxp-seconds``) and **METIS** (``pymetis.part_graph`` with household vertex weights,
``contiguous=True``). Columns: time, share of units within bounds, share contiguous, households moved
relative to the current lines (other methods' parts are given the best matching to the current
units, ``linear_sum_assignment`` — the most favourable labelling), mean Polsby–Popper of the units
(unions of the grids). A library that does not import is named and skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

HERE = Path(__file__).resolve().parent
RULES = HERE / "street-rules.toml"


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise TimeoutError in the main thread after ``seconds``."""
    def fire(*_):
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---- inputs --------------------------------------------------------------------------------------

def street_city(seed: int):
    """One street, 50 communities (groups of synth's communities), ~2,000 grids, ~220,000 households."""
    from gis.model import City
    from gis.simulate.atoms import adjacency
    from gis.simulate.split import tree_partition
    from gis.synth import synth

    city, _ = synth(2000, seed)
    comms = city["communities"].reset_index(drop=True)
    b = city["buildings"].copy()
    scale = 220_000 / b["households"].sum()
    b["households"] = np.maximum(1, np.round(b["households"] * scale)).astype(np.int64)
    b["residents"] = np.round(b["households"] * 2.6).astype(np.int64)
    grids = city["grids"].copy()
    hh_g = b.groupby("grid_code")["households"].sum()
    hh_c = grids.assign(h=grids["code"].map(hh_g).fillna(0)).groupby("community_code")["h"].sum()
    i, j, _ = adjacency(np.asarray(comms.geometry.values))
    w = hh_c.reindex(comms["code"]).fillna(0).to_numpy()
    t = w.sum() / 50
    # current lines: a tree partition balanced on skewed random weights, so that some are out of bounds
    rng = np.random.default_rng(seed)
    skew = w * rng.lognormal(0, 0.5, len(w))
    group = tree_partition(len(comms), i, j, skew, 50, 0.0, np.inf, rng)
    street = "360102001000"
    codes = np.array([f"360102001{g + 1:03d}" for g in range(50)], dtype=object)
    new_of = dict(zip(comms["code"], codes[group]))
    geoms = [shapely.coverage_union_all(np.asarray(comms.geometry.values)[group == g]) for g in range(50)]
    c2 = gpd.GeoDataFrame({"code": codes, "name": [f"社区{g + 1}" for g in range(50)], "street_code": street,
                           "kind": "territorial", "has_committee": True}, geometry=geoms, crs=comms.crs)
    grids["community_code"] = grids["community_code"].map(new_of)
    gh = grids.assign(h=grids["code"].map(hh_g).fillna(0))
    c2["households"] = gh.groupby("community_code")["h"].sum().reindex(codes).fillna(0).astype(np.int64).to_numpy()
    c2["residents"] = (c2["households"] * 2.6).round().astype(np.int64)
    s = gpd.GeoDataFrame({"code": [street], "name": ["基准街道"], "district_code": "360102",
                          "households": [int(c2["households"].sum())], "residents": [int(c2["residents"].sum())]},
                         geometry=[shapely.coverage_union_all(np.asarray(c2.geometry.values))], crs=comms.crs)
    layers = {"streets": s, "communities": c2, "grids": grids, "buildings": b}
    return City(layers, metric_crs=city.metric_crs), [street]


def whole_city(seed: int):
    from gis.synth import synth

    city, _ = synth(4870, seed, {"size_above": 30, "size_below": 30}, buildings_per_grid=8)
    return city, list(city["streets"]["code"])


# ---- one parent ------------------------------------------------------------------------------------

def parent_graph(city, parent, rules):
    """The block graph of ``parent`` as redraw builds it, plus what the evaluation needs."""
    from gis.simulate import atoms
    from gis.simulate.context import Context
    from gis.simulate.redraw import redraw_graph

    a = atoms(city, "communities", parent=parent)
    ctx = Context(city, a, "communities", rules)
    graph, k, lo, hi = redraw_graph(ctx)
    return a, ctx, graph, k, lo, hi


def evaluate(a, ctx, graph, part, k, lo, hi):
    """(units, within bounds, contiguous, households moved with the best matching, Σ PP) of a block
    partition."""
    parts = np.unique(part)
    sizes = np.bincount(part, graph.w)[parts]
    ok = int(((sizes >= lo) & (sizes <= hi)).sum())
    cont = sum(graph.connected(part == p) for p in parts)
    _, moved = graph.match(np.unique(part, return_inverse=True)[1], len(parts))
    geoms = np.asarray(a.frame.geometry.values)
    label = part[ctx.block]
    pp = [float(_pp(shapely.coverage_union_all(geoms[label == p]))) for p in parts]
    return len(parts), ok, cont, moved, sum(pp)


def _pp(g):
    p = shapely.length(g)
    return 4 * np.pi * shapely.area(g) / p ** 2 if p > 0 else 0.0


def run_wangge(graph, k, lo, hi, seed, ctx=None):
    from gis.simulate.redraw import search

    return search(ctx, graph, k, lo, hi, seed=seed)["part"]


def run_gerrychain(graph, k, lo, hi, seed):
    import random

    import networkx as nx
    from gerrychain import Graph
    from gerrychain.tree import recursive_tree_part

    random.seed(seed)
    g = nx.Graph()
    g.add_nodes_from((v, {"hh": float(x)}) for v, x in enumerate(graph.w))
    g.add_edges_from(zip(graph.ei.tolist(), graph.ej.tolist()))
    gg = Graph.from_networkx(g)
    out = recursive_tree_part(gg, parts=range(k), pop_target=graph.w.sum() / k, pop_col="hh", epsilon=0.1)
    return np.array([out[v] for v in range(graph.n)])


def run_maxp(graph, k, lo, hi, seed):
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    np.random.seed(seed)
    nbrs = {v: list(x) for v, x in enumerate(graph.nbrs)}
    w = W(nbrs, silence_warnings=True)
    gdf = pd.DataFrame({"hh": graph.w, "x": graph.w})
    model = MaxPHeuristic(gdf, w, ["x"], "hh", float(lo), top_n=2)
    model.solve()
    return np.asarray(model.labels_, np.int64)


def run_metis(graph, k, lo, hi, seed):
    import pymetis

    xadj = np.r_[0, np.cumsum([len(x) for x in graph.nbrs])]
    adjncy = np.concatenate([np.asarray(x, np.int64) for x in graph.nbrs])
    opts = pymetis.Options()
    opts.seed = seed
    _, parts = pymetis.part_graph(k, xadj=xadj.tolist(), adjncy=adjncy.tolist(),
                                  vweights=np.round(graph.w).astype(int).tolist(), contiguous=True, options=opts)
    return np.asarray(parts, np.int64)


METHODS = {"wangge": run_wangge, "GerryChain recursive_tree_part": run_gerrychain, "spopt max-p": run_maxp,
           "METIS (pymetis)": run_metis}
LIBS = {"GerryChain recursive_tree_part": "gerrychain", "spopt max-p": "spopt", "METIS (pymetis)": "pymetis"}


def bench(name, city, parents, rules, args):
    from gis.simulate import redraw

    rows = {m: {"time": 0.0, "units": 0, "ok": 0, "cont": 0, "moved": 0.0, "pp": 0.0, "failed": 0, "note": ""}
            for m in METHODS}
    graphs = [parent_graph(city, p, rules) for p in parents]
    total_hh = sum(g[2].w.sum() for g in graphs)
    for m, fn in METHODS.items():
        r = rows[m]
        if m in LIBS:
            try:
                __import__(LIBS[m])
            except ImportError as e:
                r["note"] = f"not installed: {e}"
                continue
        budget = args.maxp_seconds if m == "spopt max-p" else args.seconds
        for a, ctx, graph, k, lo, hi in graphs:
            left = budget - r["time"]
            if left <= 0:
                r["failed"] += 1
                r["note"] = f"stopped at the {budget:.0f} s cap"
                continue
            t = time.perf_counter()
            try:
                with deadline(left):
                    part = fn(graph, k, lo, hi, args.seed, ctx) if m == "wangge" else fn(graph, k, lo, hi, args.seed)
            except TimeoutError:
                r["time"] += time.perf_counter() - t
                r["failed"] += 1
                r["note"] = f"stopped at the {budget:.0f} s cap"
                continue
            except Exception as e:  # a method that gives up on a parent: counted, named
                r["time"] += time.perf_counter() - t
                r["failed"] += 1
                r["note"] = f"{type(e).__name__}: {str(e)[:60]}"
                continue
            r["time"] += time.perf_counter() - t
            n, ok, cont, moved, pp = evaluate(a, ctx, graph, part, k, lo, hi)
            r["units"] += n
            r["ok"] += ok
            r["cont"] += cont
            r["moved"] += moved
            r["pp"] += pp
        print(f"  [{name}] {m}: {r['time']:.2f} s", file=sys.stderr, flush=True)
    t = time.perf_counter()
    plans = [redraw(city, p, rules=rules, seed=args.seed) for p in parents]
    full = time.perf_counter() - t
    feasible = sum(p.feasible for p in plans)
    return rows, graphs, total_hh, full, feasible


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=600, help="time cap per method and input")
    ap.add_argument("--maxp-seconds", type=float, default=120, help="time cap for spopt max-p per input")
    ap.add_argument("--inputs", nargs="+", choices=["street", "city"], default=["street", "city"])
    args = ap.parse_args()
    from gis.rules import load_rules

    make = {"street": lambda: ("street", *street_city(args.seed), load_rules(RULES)),
            "city": lambda: ("city", *whole_city(args.seed), load_rules("nanchang-2002"))}
    inputs = [make[name]() for name in args.inputs]
    print(f"{'input':<7} {'method':<31} {'time s':>8} {'units':>6} {'in bounds':>10} {'contiguous':>11} "
          f"{'hh moved':>9} {'moved %':>8} {'mean PP':>8}  note")
    for name, city, parents, rules in inputs:
        rows, graphs, total, full, feasible = bench(name, city, parents, rules, args)
        blocks = sum(g[2].n for g in graphs)
        ks = sum(g[3] for g in graphs)
        print(f"{name}: {len(parents)} parent(s), {blocks:,} blocks, k = {ks:,} units, {total:,.0f} households, "
              f"bounds {graphs[0][4]:,.0f}–{graphs[0][5]:,.0f}; full wangge redraw incl. plan + check "
              f"{full:.1f} s, {feasible}/{len(parents)} feasible")
        for m, r in rows.items():
            if not r["units"]:
                print(f"{name:<7} {m:<31} {'—':>8} {'—':>6} {'—':>10} {'—':>11} {'—':>9} {'—':>8} {'—':>8}  {r['note']}")
                continue
            fail = f"{r['failed']} parent(s) failed; " if r["failed"] else ""
            print(f"{name:<7} {m:<31} {r['time']:8.2f} {r['units']:6,} {r['ok'] / r['units']:10.1%} "
                  f"{r['cont'] / r['units']:11.1%} {r['moved']:9,.0f} {r['moved'] / total:8.1%} "
                  f"{r['pp'] / r['units']:8.3f}  {fail}{r['note']}")


if __name__ == "__main__":
    main()
