"""Synthetic Chinese cities: streets, communities, grids, buildings, facilities and roads, with planted errors.

The street network comes first. Seed points are a jittered lattice, denser in the core, inside a
smoothed random outline around Nanchang (EPSG:4548, CGCS2000 3-degree Gauss–Krüger CM 117E);
grids are their Voronoi cells clipped to the outline (city blocks of ~150–400 m), and roads are the
cells' edges plus the outline ring (a connected network; ``kind`` 主干道 on street boundaries and the
outline, 支路 elsewhere). Communities are contiguous groups of 3–8 grids and streets contiguous
groups of 8–20 communities, grown on the cell adjacency graph; their polygons are coverage unions,
so every level is an exactly valid coverage and nests exactly. Households come from buildings: grids
hold 130–470 households, communities 1,150–1,850 and streets 44,000–56,000 residents, so a clean
city has no size finding under ``nanchang-2002`` (grids 100–500 households from ``national``).
A city of fewer than eight communities (about 35 grids) is one street below nanchang's minimum.
Buildings are rectangles turned alike within a grid (an estate's rows, some across), at least 8 m
inside it (2 m in a tiny one), none overlapping and nearly all 6 m apart (GB 50016's fire separation): placed by random
sequential adsorption, shrunk where a grid is too full.

Codes: district 360102 (东湖区; a city of more than 999 streets continues in 360103, 360104 …),
streets ``360102001000``, communities ``360102001001``, grids ``360102001001-01``, buildings
``B000001``, facilities ``F000001``, roads ``R000001``. The statistics bureau's numbers, declared
``households`` and ``residents`` of communities and streets, are the exact sums of the buildings
inside them.

Planted errors (``plant`` maps a key to a count; each site is kept apart from the others and from the
outline, and yields exactly the manifest rows below, one per expected finding):

- ``invalid_geometry`` (grids): a zero-width spike 10 m inward at one vertex → (grid,).
- ``duplicate_id`` (grids): a grid takes the code of another grid of its community (its buildings
  follow) → (code,).
- ``orphan`` (grids): community_code set to a code that does not exist → (grid,).
- ``overlap`` (grids): A grows by B ∩ disk (r 12–18 m) at their shared edge → (A, B), area of A ∩ B.
- ``gap`` (grids): a disk hole (r 15–25 m) in one grid → (grid,), hole area.
- ``gap@communities`` (communities): the same hole cut from a community and its grid → (community,).
- ``gap@streets`` (streets): the hole cut from a street, its community and its grid → (street,).
- ``outside_parent`` (grids): adjacent grids G, H of different communities merged under G's code and
  community (community polygons unchanged) → (G,), area of H.
- ``unmatched_edges`` (grids): A gets an extra vertex at the exact midpoint of its edge with B → (A, B).
- ``sliver`` (grids): that midpoint pushed 0.5 m into B → (A, B), area of the thin triangle.
- ``multipart`` (grids): two non-adjacent grids of a community merged into one MultiPolygon → (grid,).
- ``unassigned_building`` (buildings): a building 50–200 m outside the outline → (building,).
- ``multi_assigned_building`` (buildings): a building inside a planted overlap (an overlap is planted
  with it and listed too) → (building,).
- ``misassigned_building`` (buildings): a building's grid_code names a neighbouring grid → (building,).
- ``households_mismatch`` (communities): declared households +37 → (community,).
- ``size_above`` (communities): a community rescaled to 2,350–2,600 households → (community,).
- ``size_below`` (communities): a community rescaled to 600 households → (community,).
- ``merge_candidate`` (streets): a street's residents scaled to 25,000 → (street,).

Grids merged by ``outside_parent``, ``multipart`` or sharing a code by ``duplicate_id`` hold at most
460 households together, and size plants move residents within their street, so no other size
finding appears. When size codes are planted, streets that are naturally out of range (a city too
small for one 40,000-resident street) are listed as well (``merge_candidate`` under 30,000 residents,
else ``size_below``). The unassigned building declares the grid nearest to it.

Examples
--------
>>> city, manifest = synth(60, seed=1)
>>> sorted(city.layers)
['buildings', 'communities', 'facilities', 'grids', 'roads', 'streets']
>>> city.crs.to_epsg(), len(city["grids"]), len(manifest)
(4548, 60, 0)
>>> city, manifest = synth(300, seed=1, plant={"overlap": 1, "gap": 1})
>>> manifest[["code", "layer"]].values.tolist()
[['overlap', 'grids'], ['gap', 'grids']]
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from gis.findings import CODES, READ_CODES
from gis.model import City

CRS = "EPSG:4548"
CENTRE_LONLAT = (115.89, 28.68)
DISTRICT = 360102
GRID = 2.0 ** -10  # coordinate grid (≈1 mm), exact in binary floating point
CELL_AREA = 55_000.0  # mean grid area, m²

PLANT_KEYS: tuple[str, ...] = tuple(c for c in CODES if c not in ("facility_shortfall", "uncovered", *READ_CODES)) + (
    "gap@communities", "gap@streets")
#: Plant one of every code (and the community and street gaps).
PLANT_ALL: dict[str, int] = {k: 1 for k in PLANT_KEYS}
SIZE_CODES = ("size_above", "size_below", "merge_candidate")
MANIFEST_COLUMNS = ["code", "layer", "ids", "area_m2", "x", "y"]

STREET_PREFIXES = (
    "豫章 滕王阁 八一 公园 墩子塘 大院 董家窑 贤士湖 彭家桥 沙井 扬子洲 青山 湖坊 京东 塘山 罗家 昌北 蛟桥 "
    "洪都 站前 桃花 朝农 南浦 丁公 系马桩 绳金塔 广润门 十字街 岱山 徐家坊 三家店 京山 洪塘 象山 长堎 望城 "
    "生米 红角洲 卫东 九龙湖 沙湖 梅湖 瑶湖 艾溪 民德 孺子 叠山 东湖 百花洲 滨江 抚生 新洲 顺化 建设 "
    "文教 灌婴 永和 松柏").split()
COMMUNITY_PREFIXES = (
    "朝阳 青山湖 滨江 百花洲 文教 孺子 东湖 紫金 佑民 胜利 中山 叠山 阳明 章江 象湖 赣江 艾溪湖 瑶湖 "
    "梅岭 抚河 玉带河 青云 永叔 民德 德胜 子固 都司前 书院 洪城 贤士 迎宾 新溪桥 站东 顺化门 友竹 "
    "墩子塘 铁街 珠宝 东书院 育新 爱国 水电 国贸 光明 幸福 和平 团结 复兴 长青 银湖 金沙 翠林 彩虹 "
    "晨光 丰和 红谷 凤凰 双港 蓝天 青春 南苑 北苑 西湖 湖滨 学府 天祥 高新 火炬 江大 师大 桃苑 "
    "迎春 松柏 筷子巷").split()
ESTATE_PREFIXES = (
    "紫金城 阳光 绿地 恒大 万科 保利 碧桂园 中海 华润 金域 翠苑 锦绣 怡园 丽景 江景 湖滨 书香 金桥 "
    "洪都 天赐 嘉园 明珠 世纪 银座 香溢 滨湖 金色 水岸 龙湖 青山 融创 新城 凤凰 梧桐 玫瑰 海棠 "
    "国贸 铁路 电厂 棉纺厂 大学 医院 机床厂 邮电").split()
ESTATE_SUFFIXES = ("小区", "小区", "小区", "花园", "家园", "新村", "苑")
ROAD_PREFIXES = (
    "八一 阳明 中山 北京 井冈山 象山 胜利 叠山 民德 孺子 洪都 青山 抚河 福州 永叔 环湖 站前 红谷 "
    "赣江 庐山 滨江 子固 船山 榕门 孺子亭 墩子塘 南京 上海 广场 湖滨 丰和 凤凰 学府 紫阳 艾溪湖 "
    "瑶湖 青云谱 迎宾 施尧 京东").split()
BASES = np.array(["居民区", "楼宇", "街区", "企事业单位", "专业性市场"], dtype=object)
BASIS_P = [0.72, 0.1, 0.1, 0.05, 0.03]
CN_DIGITS = "一二三四五六七八九十"


# --------------------------------------------------------------------------------------------------
# public API

def synth(grids: int = 60, seed: int = 0, plant: dict[str, int] | None = None, *,
          buildings_per_grid: int = 40, building_shape: str = "polygon",
          progress=None) -> tuple[City, pd.DataFrame]:
    """Generate a synthetic city and the manifest of the errors planted in it.

    Parameters
    ----------
    grids : int
        Number of grids (city blocks), at least 10.
    seed : int
        Random seed; the same seed gives identical layers.
    plant : dict of str to int, optional
        How many of each error to plant, keyed by finding code (plus ``gap@communities`` and
        ``gap@streets``); ``None`` gives a clean city. ``PLANT_ALL`` plants one of each.
    buildings_per_grid : int
        Mean number of buildings per grid (Poisson, at least one).
    building_shape : {"polygon", "point"}
        Buildings as small rotated rectangles or as points (for very large cities).
    progress : callable, optional
        Called with a short message at each stage.

    Returns
    -------
    city : City
        Layers ``streets``, ``communities``, ``grids``, ``buildings``, ``facilities``, ``roads`` in
        EPSG:4548.
    manifest : DataFrame
        One row per expected finding: ``code``, ``layer``, ``ids`` (sorted tuple of codes),
        ``area_m2`` (overlap, gap, outside_parent, sliver; else NaN), ``x``, ``y`` (a point inside
        the planted place, EPSG:4548).

    Examples
    --------
    >>> city, manifest = synth(60, seed=2, plant={"orphan": 1})
    >>> manifest.loc[0, "code"], manifest.loc[0, "layer"]
    ('orphan', 'grids')
    """
    if building_shape not in ("polygon", "point"):
        raise ValueError(f"building_shape must be 'polygon' or 'point', got {building_shape!r}")
    if grids < 10:
        raise ValueError("a synthetic city needs at least 10 grids")
    plant = {k: int(v) for k, v in (plant or {}).items() if v}
    unknown = set(plant) - set(PLANT_KEYS)
    if unknown:
        raise ValueError(f"unknown plant keys {sorted(unknown)}; known: {', '.join(PLANT_KEYS)}")
    say = progress or (lambda msg: None)
    rng = np.random.default_rng(seed)
    g = _Gen(grids, rng, plant, buildings_per_grid, building_shape, say)
    return g.run()


# --------------------------------------------------------------------------------------------------
# helpers

def _snap(a):
    return np.round(np.asarray(a, dtype=float) / GRID) * GRID


def _cn(i: int) -> str:
    return CN_DIGITS[i - 1] if 1 <= i <= 10 else str(i)


def _group_rank(keys: np.ndarray) -> np.ndarray:
    """Rank of each element within its group, for ``keys`` sorted ascending."""
    return np.arange(len(keys)) - np.searchsorted(keys, keys, side="left")


def _regions(n, ei, ej, target, lo, hi, rng, max_iter=60):
    """Partition a connected graph's nodes into contiguous regions of ``lo``–``hi`` nodes.

    Regions grow from random seeds by Dijkstra with jittered edge weights (one multi-source run);
    regions smaller than ``lo`` merge into their smallest neighbour and regions larger than ``hi``
    are regrown from new seeds inside themselves, until all fit.
    """
    if n <= hi or n < 2 * lo:
        return np.zeros(n, dtype=np.int64)
    w = rng.uniform(0.5, 1.5, len(ei))
    graph = csr_matrix((w, (ei, ej)), shape=(n, n))
    seeds = rng.choice(n, max(1, round(n / target)), replace=False)
    _, _, src = dijkstra(graph, directed=False, indices=seeds, min_only=True, return_predecessors=True)
    label = np.unique(src, return_inverse=True)[1]

    def merge_small(label, sizes, small):
        la, lb = label[ei], label[ej]
        cross = la != lb
        a = np.concatenate([la[cross], lb[cross]])
        b = np.concatenate([lb[cross], la[cross]])
        keep = small[a]
        a, b = a[keep], b[keep]
        order = np.lexsort((sizes[b] + rng.random(len(b)), a))  # into the smallest neighbour
        a, b = a[order], b[order]
        first = np.r_[True, a[1:] != a[:-1]]
        m = len(sizes)
        merge = csr_matrix((np.ones(first.sum()), (a[first], b[first])), shape=(m, m))
        return connected_components(merge, directed=False)[1][label]

    def split_big(label, sizes, big):
        inside = big[label]
        same = (label[ei] == label[ej]) & inside[ei]
        sub = csr_matrix((w[same], (ei[same], ej[same])), shape=(n, n))
        nodes = np.flatnonzero(inside)
        nodes = nodes[np.lexsort((rng.random(len(nodes)), label[nodes]))]
        lab = label[nodes]
        parts = np.ceil(sizes / target).astype(int)
        new_seeds = nodes[_group_rank(lab) < parts[lab]]
        _, _, src = dijkstra(sub, directed=False, indices=new_seeds, min_only=True, return_predecessors=True)
        label = label.copy()
        label[inside] = len(sizes) + src[inside]
        return label

    for it in range(max_iter + 20):
        sizes = np.bincount(label)
        small, big = sizes < lo, sizes > hi
        if small.any():
            label = merge_small(label, sizes, small)
        elif big.any() and it < max_iter:  # regions too big are tolerated, too small never
            label = split_big(label, sizes, big)
        else:
            break
        label = np.unique(label, return_inverse=True)[1]
    return label


def _sample(polys, counts, rng, max_iter=80):
    """Uniform random points inside ``polys[i]``, ``counts[i]`` each, grouped by i (vectorised).

    Returns (index, x, y) sorted by index, and the counts that could not be met.
    """
    polys = np.asarray(polys, dtype=object)
    need = np.asarray(counts, dtype=np.int64).copy()
    bounds = shapely.bounds(polys)
    ok_poly = ~shapely.is_empty(polys) & (shapely.area(polys) > 0.5)
    shapely.prepare(polys[ok_poly])
    got_i, got_x, got_y = [], [], []
    active = np.flatnonzero((need > 0) & ok_poly)
    for _ in range(max_iter):
        if not len(active):
            break
        k = np.minimum(np.ceil(need[active] * 2.5).astype(np.int64) + 2, 100_000)
        rep = np.repeat(active, k)
        x = rng.uniform(bounds[rep, 0], bounds[rep, 2])
        y = rng.uniform(bounds[rep, 1], bounds[rep, 3])
        ok = shapely.contains_xy(polys[rep], x, y)
        rep, x, y = rep[ok], x[ok], y[ok]
        keep = _group_rank(rep) < need[rep]
        rep, x, y = rep[keep], x[keep], y[keep]
        got_i.append(rep), got_x.append(x), got_y.append(y)
        need -= np.bincount(rep, minlength=len(need))
        active = np.flatnonzero((need > 0) & ok_poly)
    idx = np.concatenate(got_i) if got_i else np.zeros(0, np.int64)
    xs = np.concatenate(got_x) if got_x else np.zeros(0)
    ys = np.concatenate(got_y) if got_y else np.zeros(0)
    order = np.argsort(idx, kind="stable")
    return idx[order], xs[order], ys[order], need


def _rectangles(x, y, L, W, angle):
    """Rectangles of length ``L`` and width ``W`` centred on (x, y), turned by ``angle`` (radians)."""
    hl, hw = np.asarray(L) / 2, np.asarray(W) / 2
    ca, sa = np.cos(angle), np.sin(angle)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    dx, dy = corners[None, :, 0] * hl[:, None], corners[None, :, 1] * hw[:, None]
    X = np.asarray(x)[:, None] + dx * ca[:, None] - dy * sa[:, None]
    Y = np.asarray(y)[:, None] + dx * sa[:, None] + dy * ca[:, None]
    return shapely.polygons(np.stack([X, Y], axis=-1))


def _first_apart(n, i, j):
    """Which of ``n`` items a greedy pass in index order keeps, when the pairs (i < j) clash: an
    item is kept unless it clashes with one kept before it (done in rounds over all items)."""
    state = np.zeros(n, dtype=np.int8)  # 0 undecided, 1 kept, -1 left out
    while len(i):
        blocked = np.zeros(n, dtype=bool)
        blocked[j[state[i] == 0]] = True  # an undecided item before it may still be kept
        state[(state == 0) & ~blocked] = 1
        state[j[state[i] == 1]] = -1
        live = (state[i] == 0) & (state[j] == 0)
        i, j = i[live], j[live]
    state[state == 0] = 1
    return state == 1


def _separate(x, y, L, W, angle, gi, polys, rng, gap=6.0, fill=0.5, rounds=100):
    """Move and shrink footprints until none overlap, and nearly all are ``gap`` metres apart
    (GB 50016's 6 m between multi-storey residential buildings).

    Each grid's footprints are first scaled so that, with their gaps, they take at most ``fill``
    of its polygon ``polys[gi]`` (random placement of rectangles jams at about half). Footprints are
    then kept in index order where they lie inside that polygon and clash with none kept before
    them (random sequential adsorption); the others get a new centre in it and, every third try,
    10 % shorter sides, down to 8 × 6 m. The few still without room after 60 % of the rounds need
    only 2 m; after 85 % only not to overlap, and shrink at every try below that size. Returns new
    (x, y, L, W).
    """
    # s² ΣLW + s g Σ(L+W) + n g² = fill · area, for each grid's scale s
    n = len(polys)
    a = np.bincount(gi, L * W, n)
    b = gap * np.bincount(gi, L + W, n)
    c = np.bincount(gi, None, n) * gap ** 2 - fill * shapely.area(polys)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.clip((np.sqrt(np.maximum(b * b - 4 * a * c, 0)) - b) / (2 * a), 0.3, 1.0)
    least_L, least_W = np.minimum(L, 8.0), np.minimum(W, 6.0)  # no smaller than a small house
    x, y, L, W = x.copy(), y.copy(), np.maximum(L * scale[gi], least_L), np.maximum(W * scale[gi], least_W)
    kept = np.zeros(len(x), dtype=bool)
    tries = np.zeros(len(x), dtype=np.int64)
    rect = _rectangles(x, y, L, W, angle)
    for r in range(rounds):
        todo = np.flatnonzero(~kept)
        if not len(todo):
            return x, y, L, W
        apart = gap if r < 0.6 * rounds else 2.0 if r < 0.85 * rounds else 0.0
        clash = ~shapely.contains(polys[gi[todo]], rect[todo])
        waiting = np.zeros(n, dtype=bool)
        waiting[gi[todo]] = True
        near = kept & waiting[gi]  # footprints keep 8 m inside their grid (2 m in a tiny one): its own clash
        if near.any():
            hit, _ = shapely.STRtree(rect[near]).query(rect[todo], predicate="dwithin", distance=apart)
            clash[hit] = True
        free = todo[~clash]
        i, j = shapely.STRtree(rect[free]).query(rect[free], predicate="dwithin", distance=apart)
        kept[free[_first_apart(len(free), i[i < j], j[i < j])]] = True
        again = np.flatnonzero(~kept)
        tries[again] += 1
        last = r >= 0.85 * rounds  # the last tries: any size, smaller at every try
        shrink = again if last else again[tries[again] % 3 == 0]
        L[shrink] = np.maximum(L[shrink] * 0.9, 0 if last else least_L[shrink])
        W[shrink] = np.maximum(W[shrink] * 0.9, 0 if last else least_W[shrink])
        order = again[np.argsort(gi[again], kind="stable")]
        grids, count = np.unique(gi[order], return_counts=True)
        _, px, py, left = _sample(polys[grids], count, rng)
        # the new centres found in each grid go to its first waiting footprints
        got = order[_group_rank(gi[order]) < (count - left)[np.searchsorted(grids, gi[order])]]
        x[got], y[got] = px, py
        redo = np.union1d(shrink, got)
        rect[redo] = _rectangles(x[redo], y[redo], L[redo], W[redo], angle[redo])
    raise RuntimeError(f"could not separate {int((~kept).sum())} buildings")  # pragma: no cover


def _allocate(total, group, weight):
    """Split integer ``total[g]`` over the members of each group ∝ ``weight`` (exact integer sums).

    ``group`` must be sorted; the remainder goes to each group's first member.
    """
    wsum = np.bincount(group, weights=weight, minlength=len(total))
    share = total[group] * weight / np.where(wsum[group] > 0, wsum[group], 1)
    out = np.floor(share).astype(np.int64)
    rem = total - np.bincount(group, weights=out, minlength=len(total)).astype(np.int64)
    first = np.searchsorted(group, np.arange(len(total)))
    has = first < len(group)
    has[has] &= group[first[has]] == np.arange(len(total))[has]
    out[first[has]] += rem[has]
    return out


def _ring_insert(poly, p, q, new):
    """Insert points ``new`` (ordered from p to q) between consecutive vertices p, q of the shell."""
    ring = shapely.get_coordinates(poly.exterior)
    holes = [shapely.get_coordinates(h) for h in poly.interiors]
    n = len(ring) - 1
    for i in range(n):
        a, b = ring[i], ring[i + 1]
        if np.array_equal(a, p) and np.array_equal(b, q):
            pts = np.asarray(new)
            break
        if np.array_equal(a, q) and np.array_equal(b, p):
            pts = np.asarray(new)[::-1]
            break
    else:
        raise RuntimeError("segment not found in ring")
    ring = np.vstack([ring[: i + 1], pts, ring[i + 1:]])
    return shapely.Polygon(ring, holes)


# --------------------------------------------------------------------------------------------------
# the generator

class _Gen:
    def __init__(self, n, rng, plant, bpg, shape, say):
        self.n, self.rng, self.plant, self.bpg, self.shape, self.say = n, rng, plant, bpg, shape, say
        self.manifest = []

    # ---- stages -------------------------------------------------------------------------------
    def run(self):
        self.say("outline and seed points")
        self._outline()
        self.say("Voronoi blocks")
        self._cells()
        self.say("adjacency")
        self._segments()
        self.say("communities and streets")
        self._partition()
        self._codes()
        self._unit_polygons()
        self.say("planting unit errors")
        self._plant_units()
        self.say("households")
        self._targets()
        self.say("buildings")
        self._buildings()
        self.say("planting building and size errors")
        self._plant_buildings()
        self._plant_sizes()
        self.say("facilities and roads")
        facilities = self._facilities()
        roads = self._roads()
        self.say("assembling layers")
        layers = self._assemble(facilities, roads)
        city = City(layers, source=f"synth({self.n})")
        man = pd.DataFrame(self.manifest, columns=MANIFEST_COLUMNS)
        man["area_m2"] = man["area_m2"].astype(float)
        return city, man

    def _outline(self):
        rng, n = self.rng, self.n
        t = pyproj.Transformer.from_crs(4326, CRS, always_xy=True)
        self.cx, self.cy = (float(v) for v in t.transform(*CENTRE_LONLAT))
        ks = np.arange(2, 7)
        amp = rng.normal(0, 0.16 / ks)
        phase = rng.uniform(0, 2 * np.pi, len(ks))

        def rho(theta):
            return np.exp((amp[:, None] * np.cos(ks[:, None] * theta[None, :] + phase[:, None])).sum(0))

        th = np.linspace(0, 2 * np.pi, 4096, endpoint=False)
        mean_r2 = float(np.mean(rho(th) ** 2))
        self.R = math.sqrt(n * CELL_AREA / (math.pi * mean_r2))
        m = int(np.clip(2 * math.pi * self.R / 40, 360, 20000))
        th = np.linspace(0, 2 * np.pi, m, endpoint=False)
        r = self.R * rho(th)
        ring = _snap(np.c_[self.cx + r * np.cos(th), self.cy + r * np.sin(th)])
        self.outline = shapely.Polygon(ring)
        # jittered hex lattice in the unit disk, 10 % more points than needed, the excess dropped
        h = math.sqrt(2 * math.pi / (math.sqrt(3) * 1.1 * n))
        for _ in range(5):
            h = math.sqrt(2 * math.pi * (1 - 0.4 * h) ** 2 / (math.sqrt(3) * 1.1 * n))
        while True:
            rows = np.arange(-1 - h, 1 + h, h * math.sqrt(3) / 2)
            cols = np.arange(-1 - h, 1 + h, h)
            X, Y = np.meshgrid(cols, rows)
            X = X + (np.arange(len(rows))[:, None] % 2) * h / 2
            P = np.c_[X.ravel(), Y.ravel()]
            P = P + rng.uniform(-0.28 * h, 0.28 * h, P.shape)
            P = P[np.hypot(P[:, 0], P[:, 1]) < 1 - 0.4 * h]
            if len(P) >= n:
                break
            h *= 0.97
        P = P[np.sort(rng.choice(len(P), n, replace=False))]
        u = np.hypot(P[:, 0], P[:, 1])
        th = np.arctan2(P[:, 1], P[:, 0])
        b = 0.7  # radial warp g(u) = u + b u²: core cells ~4× smaller in area than outer ones
        r = self.R * rho(th) * (u + b * u * u) / (1 + b)
        self.pts = np.c_[self.cx + r * np.cos(th), self.cy + r * np.sin(th)]

    def _cells(self):
        pts = self.pts
        x0, y0, x1, y1 = self.outline.bounds
        pad = 0.2 * (x1 - x0) + 1000
        env = shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=env,
                                                           ordered=True))
        coords = _snap(shapely.get_coordinates(cells))
        cells = shapely.set_coordinates(cells.copy(), coords)
        cells = shapely.remove_repeated_points(cells)
        shapely.prepare(self.outline)
        cross = ~shapely.contains_properly(self.outline, cells)
        idx = np.flatnonzero(cross)
        cells[idx] = shapely.intersection(cells[idx], self.outline, grid_size=GRID)
        multi = idx[shapely.get_num_geometries(cells[idx]) > 1]
        for i in multi:  # rare: a cell cut in two by the outline; give stray parts to a neighbour
            parts = shapely.get_parts(cells[i])
            home = shapely.contains_xy(parts, *pts[i])
            cells[i] = parts[home][0] if home.any() else parts[np.argmax(shapely.area(parts))]
            for part in parts[~home] if home.any() else np.delete(parts, np.argmax(shapely.area(parts))):
                tree = shapely.STRtree(cells)
                near = tree.query(part, predicate="intersects")
                near = near[near != i]
                shared = shapely.length(shapely.intersection(shapely.boundary(cells[near]),
                                                              part.boundary))
                if len(near) and shared.max() > 0:
                    j = near[np.argmax(shared)]
                    cells[j] = shapely.coverage_union_all([cells[j], part])
        self.cells = cells  # clean grid geometries, one per seed point, in seed order

    def _segments(self):
        """Edges of the clean coverage: grid on each side (-1 = outline), endpoints, lengths."""
        cells = self.cells
        coords, gi = shapely.get_coordinates(shapely.get_exterior_ring(cells), return_index=True)
        same = gi[1:] == gi[:-1]
        a = coords[:-1][same]
        b = coords[1:][same]
        g = gi[:-1][same]
        qa, qb = np.round(a / GRID).astype(np.int64), np.round(b / GRID).astype(np.int64)
        swap = (qa[:, 0] > qb[:, 0]) | ((qa[:, 0] == qb[:, 0]) & (qa[:, 1] > qb[:, 1]))
        lo = np.where(swap[:, None], qb, qa)
        hi = np.where(swap[:, None], qa, qb)
        order = np.lexsort((g, hi[:, 1], hi[:, 0], lo[:, 1], lo[:, 0]))
        lo, hi, g = lo[order], hi[order], g[order]
        key = np.c_[lo, hi]
        new = np.r_[True, np.any(key[1:] != key[:-1], axis=1)]
        start = np.flatnonzero(new)
        count = np.diff(np.r_[start, len(key)])
        if count.max() > 2:
            raise RuntimeError("the Voronoi blocks are not a clean coverage")  # pragma: no cover
        left = g[start]
        right = np.where(count == 2, g[np.minimum(start + 1, len(g) - 1)], -1)
        self.seg_a, self.seg_b = left, right
        self.seg_p = lo[start] * GRID
        self.seg_q = hi[start] * GRID
        self.seg_len = np.hypot(*(self.seg_q - self.seg_p).T)
        inner = right >= 0
        self.ei, self.ej = left[inner], right[inner]
        self.edge_len = self.seg_len[inner]
        self.on_outline = np.zeros(self.n, dtype=bool)
        self.on_outline[left[~inner]] = True
        self.nbrs = csr_matrix((np.ones(len(self.ei)), (self.ei, self.ej)), shape=(self.n, self.n))
        self.nbrs = (self.nbrs + self.nbrs.T).tocsr()

    def _partition(self):
        rng, n = self.rng, self.n
        comm = _regions(n, self.ei, self.ej, target=4.3, lo=3, hi=8, rng=rng)
        nc = comm.max() + 1
        ca, cb = comm[self.ei], comm[self.ej]
        cross = ca != cb
        pairs = np.unique(np.sort(np.c_[ca[cross], cb[cross]], axis=1), axis=0)
        if nc < 8:
            street = np.zeros(nc, dtype=np.int64)
        else:
            street = _regions(nc, pairs[:, 0], pairs[:, 1], target=12, lo=8, hi=20, rng=rng)
        self.comm_of_grid_raw, self.street_of_comm_raw = comm, street

    def _codes(self):
        """Number streets by distance from the centre, communities and grids by position."""
        rng = self.rng
        comm, street = self.comm_of_grid_raw, self.street_of_comm_raw
        cen = shapely.get_coordinates(shapely.centroid(self.cells))
        nc, ns = comm.max() + 1, street.max() + 1
        cx = np.bincount(comm, cen[:, 0], nc) / np.bincount(comm, minlength=nc)
        cy = np.bincount(comm, cen[:, 1], nc) / np.bincount(comm, minlength=nc)
        sx = np.bincount(street, cx, ns) / np.bincount(street, minlength=ns)
        sy = np.bincount(street, cy, ns) / np.bincount(street, minlength=ns)
        s_order = np.argsort(np.hypot(sx - self.cx, sy - self.cy), kind="stable")
        s_rank = np.empty(ns, np.int64)
        s_rank[s_order] = np.arange(ns)
        street = s_rank[street]
        c_order = np.lexsort((cx, -np.round(cy, -1), street))
        c_rank = np.empty(nc, np.int64)
        c_rank[c_order] = np.arange(nc)
        street = street[c_order]  # street of community, communities renumbered
        comm = c_rank[comm]
        cx, cy = cx[c_order], cy[c_order]
        self.comm, self.street = comm, street
        self.nc, self.ns = nc, ns
        # street codes
        district = DISTRICT + np.arange(ns) // 999
        s_idx = np.arange(ns) % 999 + 1
        self.street_code = np.array([f"{d}{i:03d}000" for d, i in zip(district, s_idx)], dtype=object)
        self.district_code = np.array([str(d) for d in district], dtype=object)
        L = len(STREET_PREFIXES)
        perm = rng.permutation(L)
        self.street_name = np.array(
            [STREET_PREFIXES[perm[i % L]] + ("" if i < L else _cn(i // L + 1)) + "街道" for i in range(ns)],
            dtype=object)
        # community codes: index within street
        c_in_s = _group_rank(street)
        self.comm_code = np.array([f"{self.street_code[s][:9]}{k + 1:03d}" for s, k in zip(street, c_in_s)],
                                  dtype=object)
        cp = np.array([p + "社区" for p in COMMUNITY_PREFIXES], dtype=object)
        pick = rng.integers(0, len(cp), nc)
        # avoid equal names inside one street: shift by rank
        self.comm_name = cp[(pick + c_in_s * 7) % len(cp)]
        self.comm_kind = rng.choice(np.array(["territorial", "unit", "work_unit"], dtype=object), nc,
                                    p=[0.8, 0.15, 0.05])
        # grids: index within community, ordered by position
        g_order = np.lexsort((cen[:, 0], -np.round(cen[:, 1], -1), comm))
        g_in_c = np.empty(self.n, np.int64)
        g_in_c[g_order] = _group_rank(comm[g_order])
        self.grid_code = (pd.Series(self.comm_code[comm]) + "-" + pd.Series(g_in_c + 1).map("{:02d}".format)
                          ).to_numpy(dtype=object)
        self.grid_name = np.array([f"第{k}网格" for k in range(1, 100)], dtype=object)[np.minimum(g_in_c, 98)]
        self.grid_basis = rng.choice(BASES, self.n, p=BASIS_P)
        self.grid_kind = np.where(np.isin(self.grid_basis, ["居民区", "街区"]), "basic", "dedicated").astype(object)
        self.k_of_comm = np.bincount(comm, minlength=nc)
        self.m_of_street = np.bincount(street, minlength=ns)

    def _unit_polygons(self):
        self.comm_geom = self._union_groups(self.cells, self.comm, self.nc)
        self.street_geom = self._union_groups(self.comm_geom, self.street, self.ns)

    @staticmethod
    def _union_groups(geoms, group, ng):
        order = np.argsort(group, kind="stable")
        grp = group[order]
        rank = _group_rank(grp)
        table = np.full((ng, rank.max() + 1), None, dtype=object)
        table[grp, rank] = geoms[order]
        return shapely.coverage_union_all(table, axis=1)

    # ---- planting on units ----------------------------------------------------------------------
    def _row(self, code, layer, ids, area=np.nan, pt=None):
        x, y = (pt.x, pt.y) if pt is not None else (np.nan, np.nan)
        self.manifest.append({"code": code, "layer": layer, "ids": tuple(sorted(ids)), "area_m2": float(area),
                              "x": float(x), "y": float(y)})

    def _free(self, strict=True):
        """Grids a new site may use: unused, and (strict) not next to a used grid or the outline."""
        ok = ~self.used
        if strict:
            near = np.asarray(self.nbrs[np.flatnonzero(self.used)].sum(axis=0)).ravel() > 0 \
                if self.used.any() else np.zeros(self.n, bool)
            ok &= ~near & ~self.on_outline
        return ok

    def _pick_pair(self, same_comm, min_len=0.0, k_min=0, adjacent=True):
        """A random pair of grids for a site, strict first, then relaxed."""
        rng = self.rng
        for strict in (True, False):
            free = self._free(strict)
            k_ok = self.k_of_comm >= k_min
            if adjacent:
                a, b, ln = self.ei, self.ej, self.edge_len
                ok = free[a] & free[b] & (ln >= min_len) & k_ok[self.comm[a]] & k_ok[self.comm[b]]
                ok &= (self.comm[a] == self.comm[b]) if same_comm else (self.comm[a] != self.comm[b])
                cand = np.flatnonzero(ok)
                if len(cand):
                    e = cand[rng.integers(len(cand))]
                    if rng.random() < 0.5:
                        return int(a[e]), int(b[e]), e
                    return int(b[e]), int(a[e]), e
            else:
                cand = np.flatnonzero(free & k_ok[self.comm])
                rng.shuffle(cand)
                for g1 in cand:
                    others = cand[(self.comm[cand] == self.comm[g1]) & (cand != g1)]
                    others = others[shapely.distance(self.cells[others], self.cells[g1]) > 1.0]
                    if len(others):
                        return int(g1), int(others[0]), None
        return None

    def _pick_one(self, pred=None):
        for strict in (True, False):
            cand = np.flatnonzero(self._free(strict) & (pred if pred is not None else True))
            if len(cand):
                return int(cand[self.rng.integers(len(cand))])
        return None

    def _need(self, what, site):
        if site is None:
            raise ValueError(f"city of {self.n} grids is too small to plant {what}; use more grids")
        return site

    def _use(self, *grids):
        for g in grids:
            self.used[g] = True

    def _plant_units(self):
        rng, P = self.rng, self.plant
        n = self.n
        self.used = np.zeros(n, dtype=bool)
        self.geom = self.cells.copy()  # grid geometries as delivered
        self.g_code = self.grid_code.copy()
        self.g_comm_code = self.comm_code[self.comm]
        self.drop = np.zeros(n, dtype=bool)
        self.decl = self.grid_code.copy()  # declared grid_code of buildings placed in clean grid i
        self.exclude = {}  # clean grid → list of regions buildings must avoid
        self.fixed_hh = {}  # clean grid → households target (merged / duplicated grids)
        self.overlaps = []  # (A, B, building point) for multi-assigned buildings
        self.comm_used = np.zeros(self.nc, dtype=bool)

        def excl(g, region):
            self.exclude.setdefault(g, []).append(region)

        n_over = max(P.get("overlap", 0), P.get("multi_assigned_building", 0))
        for _ in range(n_over):
            for _try in range(50):
                site = self._need("overlap", self._pick_pair(True, min_len=70.0, k_min=3))
                A, B, e = site
                p, q = self.seg_p[self._seg_index(A, B)], self.seg_q[self._seg_index(A, B)]
                mid = (p + q) / 2
                t = (q - p) / np.hypot(*(q - p))
                nrm = np.array([-t[1], t[0]])
                if not shapely.contains_xy(self.cells[B], *(mid + nrm)):
                    nrm = -nrm
                r = rng.uniform(12, 18)
                c = mid + nrm * 0.4 * r
                disk = shapely.Point(c).buffer(r, quad_segs=16)
                both = shapely.coverage_union_all([self.cells[A], self.cells[B]])
                if shapely.contains_properly(both, disk.buffer(2.0)):
                    break
                self._use(A, B)  # unsuitable pair: burn it and try another
            else:  # pragma: no cover
                raise ValueError("no grid pair fits an overlap")
            self._use(A, B)
            # the disk straddles the shared edge, so A ∪ D is robustly one polygon; A gains D ∩ B
            self.geom[A] = shapely.union(self.cells[A], disk)
            if self.geom[A].geom_type != "Polygon":  # pragma: no cover
                raise RuntimeError("overlap plant is not a single polygon")
            area = shapely.area(shapely.intersection(self.geom[A], self.cells[B]))
            excl(A, disk), excl(B, disk)
            inside = shapely.Point(mid + nrm * 0.7 * r)
            self.overlaps.append((A, B, inside))
            self._row("overlap", "grids", (self.g_code[A], self.g_code[B]), area, shapely.Point(c))

        for _ in range(P.get("sliver", 0)):
            A, B, _e = self._need("sliver", self._pick_pair(True, min_len=30.0))
            self._use(A, B)
            p, q = self.seg_p[self._seg_index(A, B)], self.seg_q[self._seg_index(A, B)]
            mid = (p + q) / 2
            t = (q - p) / np.hypot(*(q - p))
            nrm = np.array([-t[1], t[0]])
            if not shapely.contains_xy(self.cells[B], *(mid + nrm)):
                nrm = -nrm
            apex = mid + 0.5 * nrm
            self.geom[A] = _ring_insert(self.cells[A], p, q, [apex])
            tri = shapely.Polygon([p, apex, q])
            self._row("sliver", "grids", (self.g_code[A], self.g_code[B]), tri.area,
                      shapely.Point(mid + 0.2 * nrm))

        for _ in range(P.get("unmatched_edges", 0)):
            A, B, _e = self._need("unmatched_edges", self._pick_pair(True, min_len=20.0))
            self._use(A, B)
            p, q = self.seg_p[self._seg_index(A, B)], self.seg_q[self._seg_index(A, B)]
            mid = (p + q) / 2
            self.geom[A] = _ring_insert(self.cells[A], p, q, [mid])
            self._row("unmatched_edges", "grids", (self.g_code[A], self.g_code[B]), np.nan, shapely.Point(mid))

        for _ in range(P.get("outside_parent", 0)):
            G, H, _e = self._need("outside_parent", self._pick_pair(False, k_min=4))
            self._use(G, H)
            self.geom[G] = shapely.coverage_union_all([self.cells[G], self.cells[H]])
            self.drop[H] = True
            self.decl[H] = self.g_code[G]
            self.fixed_hh[G] = self.fixed_hh[H] = None
            self._row("outside_parent", "grids", (self.g_code[G],), shapely.area(self.cells[H]),
                      shapely.point_on_surface(self.cells[H]))

        for _ in range(P.get("multipart", 0)):
            g1, g2, _e = self._need("multipart", self._pick_pair(True, k_min=4, adjacent=False))
            self._use(g1, g2)
            self.geom[g1] = shapely.MultiPolygon([self.cells[g1], self.cells[g2]])
            self.drop[g2] = True
            self.decl[g2] = self.g_code[g1]
            self.fixed_hh[g1] = self.fixed_hh[g2] = None
            self._row("multipart", "grids", (self.g_code[g1],), np.nan, shapely.point_on_surface(self.cells[g2]))

        for _ in range(P.get("duplicate_id", 0)):
            g, h, _e = self._need("duplicate_id", self._pick_pair(True, k_min=4, adjacent=False)
                                  or self._pick_pair(True, k_min=4))
            self._use(g, h)
            self.g_code[g] = self.g_code[h]
            self.decl[g] = self.g_code[h]
            self.fixed_hh[g] = self.fixed_hh[h] = None
            self._row("duplicate_id", "grids", (self.g_code[h],), np.nan, shapely.point_on_surface(self.cells[g]))

        for _ in range(P.get("invalid_geometry", 0)):
            g = self._need("invalid_geometry", self._pick_one())
            self._use(g)
            ring = shapely.get_coordinates(self.cells[g].exterior)
            cen = np.array(self.cells[g].centroid.coords[0])
            i = int(rng.integers(len(ring) - 1))
            v, w = ring[i], ring[i + 1]
            tip = v + 10.0 * (cen - v) / np.hypot(*(cen - v))
            self.geom[g] = _ring_insert(self.cells[g], v, w, [tip, v])
            excl(g, shapely.LineString([v, tip]))
            self._row("invalid_geometry", "grids", (self.g_code[g],), np.nan, shapely.Point((v + tip) / 2))

        for _ in range(P.get("orphan", 0)):
            g = self._need("orphan", self._pick_one())
            self._use(g)
            self.g_comm_code[g] = self.g_comm_code[g][:9] + "099"
            self._row("orphan", "grids", (self.g_code[g],), np.nan, shapely.point_on_surface(self.cells[g]))

        for layer in ("grids", "communities", "streets"):
            key = "gap" if layer == "grids" else f"gap@{layer}"
            for _ in range(P.get(key, 0)):
                for _try in range(100):
                    g = self._need(key, self._pick_one())
                    r = rng.uniform(15, 25)
                    room = shapely.buffer(self.cells[g], -(r + 30), join_style="mitre")
                    if not room.is_empty:
                        break
                    self._use(g)
                self._use(g)
                c = shapely.point_on_surface(room)
                hole = c.buffer(r, quad_segs=16)
                before = shapely.area(self.geom[g])
                self.geom[g] = shapely.difference(self.geom[g], hole)
                area = before - shapely.area(self.geom[g])
                excl(g, hole)
                cm = self.comm[g]
                ids = (self.g_code[g],)
                if layer in ("communities", "streets"):
                    self.comm_geom[cm] = shapely.difference(self.comm_geom[cm], hole)
                    ids = (self.comm_code[cm],)
                if layer == "streets":
                    s = self.street[cm]
                    self.street_geom[s] = shapely.difference(self.street_geom[s], hole)
                    ids = (self.street_code[s],)
                self._row("gap", layer, ids, area, c)

        for g, v in list(self.fixed_hh.items()):
            self.fixed_hh[g] = int(rng.integers(150, 231))

    def _seg_index(self, a, b):
        m = ((self.seg_a == a) & (self.seg_b == b)) | ((self.seg_a == b) & (self.seg_b == a))
        return int(np.flatnonzero(m)[0])

    # ---- households and buildings -----------------------------------------------------------------
    def _targets(self):
        """Households per grid and residents per household per community, top down from streets."""
        rng = self.rng
        k = self.k_of_comm.astype(float)
        lo = np.maximum(1150, 140 * k)
        hi = np.minimum(1850, 450 * k)
        hi = np.maximum(hi, lo)
        H = rng.uniform(lo, hi)
        rho = rng.uniform(2.6, 3.1, self.nc)
        normal = self.m_of_street >= 8
        want = rng.uniform(44000, 56000, self.ns)
        f = want / np.bincount(self.street, H * 2.85, self.ns)
        H = np.where(normal[self.street], np.clip(H * f[self.street], lo, hi), H)
        g = want / np.bincount(self.street, H * rho, self.ns)
        rho = np.where(normal[self.street], np.clip(rho * g[self.street], 2.0, 4.0), rho)
        # split over grids
        w = rng.uniform(0.85, 1.15, self.n)
        fixed = np.zeros(self.n, dtype=bool)
        fixed_val = np.zeros(self.n)
        for gi, v in self.fixed_hh.items():
            fixed[gi], fixed_val[gi] = True, v
        rest = H - np.bincount(self.comm, fixed_val, self.nc)
        wsum = np.bincount(self.comm, np.where(fixed, 0, w), self.nc)
        t = np.where(fixed, fixed_val, rest[self.comm] * w / np.where(wsum > 0, wsum, 1)[self.comm])
        t = np.where(fixed, t, np.clip(t, 130, 470))
        self.hh_target = np.round(t).astype(np.int64)
        self.rho = rho

    def _insets(self, idx, d):
        polys = shapely.buffer(self.cells[idx], -d, join_style="mitre")
        for j, g in enumerate(idx):
            if g in self.exclude:
                polys[j] = shapely.difference(polys[j], shapely.union_all(
                    [shapely.buffer(r, d) for r in self.exclude[g]]))
        return polys

    def _buildings(self):
        rng, n = self.rng, self.n
        counts = np.maximum(1, rng.poisson(self.bpg, n))
        if self.shape == "polygon":
            tiers = [(1.0, 8 + 31.7), (0.4, 8 + 12.7), (0.15, 8 + 4.8), (0.05, 2 + 1.6)]
        else:
            tiers = [(1.0, 8.0), (1.0, 4.0), (1.0, 1.0)]
        tier = np.full(n, -1)
        gi_all, x_all, y_all = [], [], []
        todo = np.arange(n)
        for ti, (_s, d) in enumerate(tiers):
            if not len(todo):
                break
            polys = self._insets(todo, d)
            idx, x, y, left = _sample(polys, counts[todo], rng)
            done = left == 0
            keep = done[idx]
            gi_all.append(todo[idx[keep]]), x_all.append(x[keep]), y_all.append(y[keep])
            tier[todo[done]] = ti
            todo = todo[~done]
        if len(todo):  # pragma: no cover
            raise RuntimeError(f"could not place buildings in {len(todo)} grids")
        gi = np.concatenate(gi_all)
        x, y = np.concatenate(x_all), np.concatenate(y_all)
        order = np.argsort(gi, kind="stable")
        gi, x, y = gi[order], x[order], y[order]
        nb = len(gi)
        scale = np.array([s for s, _ in tiers])[tier[gi]]
        if self.shape == "polygon":
            L = rng.uniform(12, 60, nb) * scale
            W = rng.uniform(10, 20, nb) * scale
            foot = L * W
        else:
            L = W = None
            foot = rng.uniform(300, 1500, nb)
        weight = foot * rng.uniform(0.6, 1.4, nb)
        hh = _allocate(self.hh_target, gi, weight)
        self.b = {"grid": gi, "x": x, "y": y, "L": L, "W": W, "angle": rng.uniform(0, np.pi, nb), "foot": foot,
                  "hh": hh, "noise": rng.uniform(0.96, 1.04, nb), "weight": weight}
        self.b["res"] = np.round(hh * self.rho[self.comm[gi]] * self.b["noise"]).astype(np.int64)
        if self.shape == "polygon":
            self._apart()
            x, y = self.b["x"], self.b["y"]
        # estates: 1–3 per grid, by x-order inside the grid
        nb_g = np.bincount(gi, minlength=n)
        n_est = 1 + (nb_g > 8) + (nb_g > 20)
        xr = np.lexsort((x, gi))
        rank = np.empty(nb, np.int64)
        rank[xr] = _group_rank(gi[xr])
        est = rank * n_est[gi] // nb_g[gi]
        names = np.array([p + s for p in ESTATE_PREFIXES for s in ESTATE_SUFFIXES], dtype=object)
        self.b["estate"] = names[rng.integers(0, len(names), (n, 3))[gi, est]]
        self.b["planted"] = np.zeros(nb, dtype=bool)
        self.b["decl"] = self.decl[gi]

    def _apart(self):
        """Footprints in one grid turned alike (as an estate's rows of slabs, some across), then
        moved apart; from a stream of their own, so every later draw of the city is unchanged."""
        b, rng = self.b, self.rng.spawn(1)[0]
        gi = b["grid"]
        first = np.searchsorted(gi, np.arange(self.n))  # buildings are sorted by grid
        base = b["angle"][np.minimum(first, len(gi) - 1)]
        across = rng.random(len(gi)) < 0.15
        b["angle"] = base[gi] + across * (np.pi / 2) + rng.normal(0, 0.03, len(gi))
        polys = self._insets(np.arange(self.n), 8.0)  # 8 m back from the grid's edge, if it has room
        small = np.flatnonzero(shapely.area(polys) < 200)
        polys[small] = self._insets(small, 2.0)
        shapely.prepare(polys)
        b["x"], b["y"], b["L"], b["W"] = _separate(b["x"], b["y"], b["L"], b["W"], b["angle"], gi, polys, rng)
        b["foot"] = b["L"] * b["W"]

    def _add_building(self, grid, pt, hh, decl):
        b = self.b
        b["grid"] = np.r_[b["grid"], grid]
        b["x"], b["y"] = np.r_[b["x"], pt.x], np.r_[b["y"], pt.y]
        if self.shape == "polygon":
            b["L"], b["W"] = np.r_[b["L"], 6.0], np.r_[b["W"], 5.0]
        b["angle"] = np.r_[b["angle"], 0.3]
        b["foot"] = np.r_[b["foot"], 30.0]
        b["hh"] = np.r_[b["hh"], hh]
        b["noise"] = np.r_[b["noise"], 1.0]
        b["weight"] = np.r_[b["weight"], 1.0]
        b["res"] = np.r_[b["res"], round(hh * 2.8)]
        b["estate"] = np.r_[b["estate"], np.array(["零星住宅"], dtype=object)]
        b["planted"] = np.r_[b["planted"], True]
        b["decl"] = np.r_[b["decl"], np.array([decl], dtype=object)]
        return len(b["hh"]) - 1

    def _plant_buildings(self):
        rng, P, b = self.rng, self.plant, self.b
        nb0 = len(b["hh"])
        self.bcode_width = max(6, len(str(nb0 + 100)))
        def code(i):
            return f"B{i + 1:0{self.bcode_width}d}"

        for k in range(P.get("multi_assigned_building", 0)):
            _a, B, pt = self.overlaps[k]
            i = self._add_building(B, pt, int(rng.integers(4, 13)), self.decl[B])
            self._row("multi_assigned_building", "buildings", (code(i),), np.nan, pt)
        sites = [shapely.Point(r["x"], r["y"]) for r in self.manifest if not np.isnan(r["x"])]
        ring = self.outline.exterior
        for _ in range(P.get("unassigned_building", 0)):
            for _try in range(200):
                s = rng.uniform(0, ring.length)
                p = ring.interpolate(s)
                if all(p.distance(q) > 400 for q in sites):
                    break
            dp = np.array([p.x - self.cx, p.y - self.cy])
            out = np.array(p.coords[0]) + dp / np.hypot(*dp) * rng.uniform(50, 200)
            pt = shapely.Point(out)
            if self.outline.distance(pt) < 45:  # the outline bends: push further out
                pt = shapely.Point(np.array(p.coords[0]) + dp / np.hypot(*dp) * 250)
            near = int(np.argmin(shapely.distance(self.cells[self.on_outline], pt)))
            g = int(np.flatnonzero(self.on_outline)[near])
            i = self._add_building(-1, pt, int(rng.integers(4, 13)), self.g_code[g])
            sites.append(pt)
            self._row("unassigned_building", "buildings", (code(i),), np.nan, pt)
        for _ in range(P.get("misassigned_building", 0)):
            g = self._need("misassigned_building", self._pick_one(self.k_of_comm[self.comm] >= 2))
            self._use(g)
            nb = self.nbrs[g].indices
            nb = nb[self.comm[nb] == self.comm[g]]
            h = int(nb[0]) if len(nb) else int(np.flatnonzero((self.comm == self.comm[g]) &
                                                               (np.arange(self.n) != g))[0])
            inside = np.flatnonzero((b["grid"] == g) & ~b["planted"])
            i = int(inside[np.argmin(b["hh"][inside])])
            b["decl"][i] = self.decl[h]
            b["planted"][i] = True
            self._row("misassigned_building", "buildings", (code(i),), np.nan, shapely.Point(b["x"][i], b["y"][i]))
        self.b_code = code

    def _comm_sums(self):
        b = self.b
        inside = b["grid"] >= 0
        c = self.comm[b["grid"][inside]]
        hh = np.bincount(c, b["hh"][inside], self.nc).astype(np.int64)
        res = np.bincount(c, b["res"][inside], self.nc).astype(np.int64)
        return hh, res

    def _plant_sizes(self):
        rng, P, b = self.rng, self.plant, self.b
        used_comm = np.zeros(self.nc, dtype=bool)
        used_comm[self.comm[self.used]] = True
        gsel = b["grid"] >= 0
        bc = np.full(len(b["hh"]), -1)
        bc[gsel] = self.comm[b["grid"][gsel]]

        def pick_comm(pred):
            for strict in (True, False):
                ok = pred & ~self.comm_used & (~used_comm if strict else True)
                cand = np.flatnonzero(ok)
                if len(cand):
                    return int(cand[rng.integers(len(cand))])
            return None

        def rescale(c, total):
            """Set community c's households to ``total`` (evenly over grids), keep its street's residents."""
            s = self.street[c]
            _, res0 = self._comm_sums()
            street_res = np.bincount(self.street, res0, self.ns)[s]
            grids = np.flatnonzero(self.comm == c)
            tg = np.zeros(self.n, np.int64)
            tg[grids] = total // len(grids)
            tg[grids[: total % len(grids)]] += 1
            sel = np.flatnonzero(np.isin(b["grid"], grids) & ~b["planted"])
            grp = b["grid"][sel]
            b["hh"][sel] = _allocate(tg, grp, b["weight"][sel])
            b["res"][sel] = np.round(b["hh"][sel] * self.rho[c] * b["noise"][sel]).astype(np.int64)
            new_c = b["res"][bc == c].sum()
            others = np.flatnonzero((bc >= 0) & (self.street[np.maximum(bc, 0)] == s) & (bc != c))
            if len(others):
                old_o = b["res"][others].sum()
                f = (street_res - new_c) / old_o
                b["res"][others] = np.round(b["res"][others] * f).astype(np.int64)

        for _ in range(P.get("size_above", 0)):
            c = self._need("size_above", pick_comm((self.k_of_comm >= 5) & (self.comm_kind != "work_unit")))
            self.comm_used[c] = True
            rescale(c, int(min(2600, 470 * self.k_of_comm[c])))
            self._row("size_above", "communities", (self.comm_code[c],), np.nan,
                      shapely.point_on_surface(self.comm_geom[c]))
        for _ in range(P.get("size_below", 0)):
            c = self._need("size_below", pick_comm(self.k_of_comm <= 5))
            self.comm_used[c] = True
            rescale(c, 600)
            self._row("size_below", "communities", (self.comm_code[c],), np.nan,
                      shapely.point_on_surface(self.comm_geom[c]))
        self.hh_bonus = np.zeros(self.nc, np.int64)
        for _ in range(P.get("households_mismatch", 0)):
            c = self._need("households_mismatch", pick_comm(np.ones(self.nc, bool)))
            self.comm_used[c] = True
            self.hh_bonus[c] += 37
            self._row("households_mismatch", "communities", (self.comm_code[c],), np.nan,
                      shapely.point_on_surface(self.comm_geom[c]))
        planted_streets = set()
        for _ in range(P.get("merge_candidate", 0)):
            busy = np.zeros(self.ns, bool)
            busy[self.street[self.comm_used]] = True
            busy[list(planted_streets)] = True
            cand = np.flatnonzero(~busy) if (~busy).any() else np.setdiff1d(np.arange(self.ns),
                                                                             list(planted_streets))
            s = self._need("merge_candidate", cand[rng.integers(len(cand))] if len(cand) else None)
            planted_streets.add(int(s))
            sel = (bc >= 0) & (self.street[np.maximum(bc, 0)] == s)
            f = 25000 / b["res"][sel].sum()
            b["res"][sel] = np.round(b["res"][sel] * f).astype(np.int64)
            self._row("merge_candidate", "streets", (self.street_code[s],), np.nan,
                      shapely.point_on_surface(self.street_geom[s]))
        if any(P.get(k, 0) for k in SIZE_CODES):  # streets out of range by nature (tiny cities)
            _, res = self._comm_sums()
            sres = np.bincount(self.street, res, self.ns)
            for s in range(self.ns):
                if s in planted_streets:
                    continue
                if sres[s] < 30000:
                    code = "merge_candidate"
                elif sres[s] < 40000:
                    code = "size_below"
                elif sres[s] > 60000:
                    code = "size_above"
                else:
                    continue
                self._row(code, "streets", (self.street_code[s],), np.nan,
                          shapely.point_on_surface(self.street_geom[s]))

    # ---- facilities and roads -----------------------------------------------------------------------
    def _facilities(self):
        rng = self.rng
        # a host grid per facility: a random unused grid of the community (any grid if all used)
        kinds, comms, area_lo, area_hi, suffix = [], [], [], [], []
        spec = [("service_centre", 1, 300, 800, "党群服务中心"), ("elderly_station", 2, 200, 500, "居家养老服务站"),
                ("police_room", 1, 30, 80, "警务室"), ("shelter", 4, 500, 3000, "应急避难场所")]
        for kind, every, lo, hi, suf in spec:
            c = np.arange(0, self.nc, every)
            kinds.append(np.full(len(c), kind, dtype=object)), comms.append(c)
            area_lo.append(np.full(len(c), lo)), area_hi.append(np.full(len(c), hi))
            suffix.append(np.full(len(c), suf, dtype=object))
        first_c = np.searchsorted(self.street, np.arange(self.ns))
        kinds.append(np.full(self.ns, "fire_station", dtype=object)), comms.append(first_c)
        area_lo.append(np.full(self.ns, 1000)), area_hi.append(np.full(self.ns, 3000))
        suffix.append(np.full(self.ns, "消防站", dtype=object))
        kind, comm = np.concatenate(kinds), np.concatenate(comms)
        lo, hi, suf = np.concatenate(area_lo), np.concatenate(area_hi), np.concatenate(suffix)
        # host grid: random grid of the community, preferring unused ones
        r = rng.random(self.n) + self.used * 10
        order = np.lexsort((r, self.comm))
        first_g = order[np.searchsorted(self.comm[order], comm)]
        d = 8.0 if self.shape == "point" else 20.0
        uniq, inv = np.unique(first_g, return_inverse=True)
        polys = self._insets(uniq, d)
        cnt = np.bincount(inv, minlength=len(uniq))
        idx, x, y, left = _sample(polys, cnt, rng)
        # fallback: point on surface of the clean grid for the few that failed
        pos = np.zeros((len(kind), 2))
        f_order = np.argsort(inv, kind="stable")
        start = np.searchsorted(inv[f_order], np.arange(len(uniq)))
        got = np.bincount(idx, minlength=len(uniq))
        rank = _group_rank(idx)
        pos[f_order[start[idx] + rank]] = np.c_[x, y]
        for j in np.flatnonzero(left > 0):
            pt = shapely.point_on_surface(self.cells[uniq[j]])
            slots = f_order[start[j] + got[j]: start[j] + cnt[j]]
            pos[slots] = [pt.x, pt.y]
        names = self.comm_name[comm] + suf
        names[kind == "fire_station"] = self.street_name[self.street[comm[kind == "fire_station"]]] + "消防站"
        fa = rng.uniform(lo, hi)
        # cameras at ~8 % of road intersections (vertices of degree ≥ 3), 3 m into a neighbouring grid
        inner = np.flatnonzero(self.seg_b >= 0)
        ends = np.r_[np.round(self.seg_p / GRID).astype(np.int64), np.round(self.seg_q / GRID).astype(np.int64)]
        _, vi, deg = np.unique(ends, axis=0, return_inverse=True, return_counts=True)
        vi = vi.ravel()
        deg_p = deg[vi[: len(self.seg_p)]]
        cand = inner[(deg_p[inner] >= 3) & ~self.used[self.seg_a[inner]] & ~self.used[self.seg_b[inner]]]
        cand = cand[rng.random(len(cand)) < 0.08]
        g = self.seg_a[cand]
        v = self.seg_p[cand]
        cen = shapely.get_coordinates(shapely.centroid(self.cells[g]))
        dv = cen - v
        cam = v + 3.0 * dv / np.hypot(dv[:, 0], dv[:, 1])[:, None]
        ok = shapely.contains_xy(self.cells[g], cam[:, 0], cam[:, 1])
        cam, g = cam[ok], g[ok]
        ncam = len(cam)
        kind = np.r_[kind, np.full(ncam, "camera", dtype=object)]
        comm_all = np.r_[comm, self.comm[g]]
        names = np.r_[names, np.array([f"监控点{i + 1}" for i in range(ncam)], dtype=object)]
        fa = np.r_[fa, np.zeros(ncam)]
        pos = np.r_[pos, cam]
        nf = len(kind)
        codes = np.array([f"F{i + 1:06d}" for i in range(nf)], dtype=object)
        return gpd.GeoDataFrame({"code": codes, "name": names, "kind": kind, "floor_area_m2": np.round(fa, 1),
                                 "community_code": self.comm_code[comm_all]},
                                geometry=shapely.points(pos), crs=CRS)

    def _roads(self):
        a, b = self.seg_a, self.seg_b
        main = (b < 0) | (self.street[self.comm[a]] != self.street[self.comm[np.maximum(b, 0)]])
        kind = np.where(main, "主干道", "支路").astype(object)
        n = len(a)
        # names: one per street-pair boundary (主干道) or per grid (支路)
        pre = np.array(ROAD_PREFIXES, dtype=object)
        sa, sb = self.street[self.comm[a]], np.where(b >= 0, self.street[self.comm[np.maximum(b, 0)]], -1)
        key_main = (np.minimum(sa, sb) * 7919 + np.maximum(sa, sb) * 104729) % len(pre)
        key_side = (a * 31 + 7) % len(pre)
        suffix_main = np.where(b < 0, "环路", "大道").astype(object)
        name = np.where(main, pre[key_main] + suffix_main, pre[key_side] + "巷")
        coords = np.stack([self.seg_p, self.seg_q], axis=1).reshape(-1, 2)
        lines = shapely.linestrings(coords, indices=np.repeat(np.arange(n), 2))
        codes = pd.Series(np.arange(1, n + 1)).map(f"R{{:0{max(6, len(str(n)))}d}}".format).to_numpy(object)
        return gpd.GeoDataFrame({"code": codes, "name": name, "kind": kind}, geometry=lines, crs=CRS)

    # ---- assembling ---------------------------------------------------------------------------------
    def _assemble(self, facilities, roads):
        b = self.b
        hh_c, res_c = self._comm_sums()
        hh_s = np.bincount(self.street, hh_c, self.ns).astype(np.int64)
        res_s = np.bincount(self.street, res_c, self.ns).astype(np.int64)
        streets = gpd.GeoDataFrame({"code": self.street_code, "name": self.street_name,
                                    "district_code": self.district_code, "households": hh_s,
                                    "residents": res_s}, geometry=self.street_geom, crs=CRS)
        communities = gpd.GeoDataFrame({
            "code": self.comm_code, "name": self.comm_name, "street_code": self.street_code[self.street],
            "kind": self.comm_kind, "has_committee": np.ones(self.nc, bool),
            "households": hh_c + self.hh_bonus, "residents": res_c}, geometry=self.comm_geom, crs=CRS)
        keep = ~self.drop
        grids = gpd.GeoDataFrame({
            "code": self.g_code[keep], "name": self.grid_name[keep], "community_code": self.g_comm_code[keep],
            "kind": self.grid_kind[keep], "basis": self.grid_basis[keep]}, geometry=self.geom[keep], crs=CRS)
        # order grids by code for readability
        grids = grids.iloc[np.argsort(grids["code"].to_numpy(), kind="stable")].reset_index(drop=True)
        nb = len(b["hh"])
        if self.shape == "polygon":
            geom = _rectangles(b["x"], b["y"], b["L"], b["W"], b["angle"])
        else:
            geom = shapely.points(b["x"], b["y"])
        floors = np.clip(np.round(b["hh"] * 95 / b["foot"]), 1, 40)
        codes = pd.Series(np.arange(1, nb + 1)).map(f"B{{:0{self.bcode_width}d}}".format).to_numpy(object)
        buildings = gpd.GeoDataFrame({
            "code": codes, "households": b["hh"].astype(np.int64), "residents": b["res"].astype(np.int64),
            "floor_area_m2": np.round(b["foot"] * floors, 1), "estate": b["estate"], "grid_code": b["decl"]},
            geometry=geom, crs=CRS)
        return {"streets": streets, "communities": communities, "grids": grids, "buildings": buildings,
                "facilities": facilities, "roads": roads}
