"""A drawn area given to one unit of a street: :func:`draw`, the editor's one operation.

Grids take the drawn land itself (clipped to their community, buildings kept whole); communities
take whole grids. The result meets its neighbours vertex for vertex, on the stored lines, so that
checking it finds no slivers or unmatched edges that the drawing did not make.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from gis.model import City
>>> streets = gpd.GeoDataFrame({"code": ["S"]}, geometry=[shapely.box(0, 0, 200, 100)], crs=4548)
>>> comms = gpd.GeoDataFrame({"code": ["C"], "street_code": ["S"]}, geometry=[shapely.box(0, 0, 200, 100)], crs=4548)
>>> grids = gpd.GeoDataFrame({"code": ["G1", "G2"], "name": ["一", "二"], "community_code": ["C", "C"]},
...                          geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs=4548)
>>> city = City({"streets": streets, "communities": comms, "grids": grids})
>>> new, info = draw(city, "S", "grids", grids[["code", "name", "geometry"]], shapely.box(80, 0, 100, 100), "G2")
>>> new.area.round().tolist(), info["taken"]
([8000.0, 12000.0], [{'code': 'G1', 'area_m2': 2000.0}])
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gis.check.level import polygonal
from gis.edit.snap import onto_stored
from gis.edit.units import OUTSIDE_TOLERANCE_M2, containing, in_street
from gis.errors import EditError
from gis.model import LABELS, City
from gis.noding import SPECK_M2, node_changed, vertices

#: A drawn vertex this close to a unit's vertex or line is put on it: about a screen pixel at zoom 18,
#: so a line drawn "along" a boundary follows it instead of leaving a sliver.
DRAW_SNAP_M = 0.5
#: Vertices of the changed units within this distance of each other are made one vertex.
NODE_M = 1e-3
#: Overlays of a drawn area round to this grid (snap-rounding: robust, and no spike thinner than it).
GRID_M = 1e-4
#: A unit overlapping the drawn area by less than this (m²) gives nothing: the overlap is arithmetic noise.
PIECE_M2 = SPECK_M2


def draw(city: City, street: str, level: str, units: gpd.GeoDataFrame, area, to: str) -> tuple[gpd.GeoDataFrame, dict]:
    """``units`` with the drawn ``area`` given to the unit ``to``, and what moved.

    The area is clipped to the parent of ``to`` (the street for a community, its community for a
    grid: 不跨社区). Grids take the area itself, with buildings kept whole (人无遗漏) and the new line
    meeting the community's outline at its vertices. Communities take whole grids, those with more
    than half their area inside, since their lines are grid lines. The changed units meet their
    neighbours vertex for vertex (:func:`gis.noding.node_changed`) and are snapped back onto the
    stored lines (:func:`gis.edit.onto_stored`). The findings of the result are not checked here.

    Parameters
    ----------
    city : gis.model.City
        The stored city.
    street : str
        The street's code.
    level : {"communities", "grids"}
        The layer of ``units``.
    units : geopandas.GeoDataFrame
        The street's units of ``level`` as drawn so far (``code``, ``name``, geometry; city CRS).
    area : shapely.Polygon or shapely.MultiPolygon
        The drawn area, in the city's metric CRS (``city.metric_crs``).
    to : str
        The code of the unit that takes it.

    Returns
    -------
    units : geopandas.GeoDataFrame
        The new units, in the CRS of ``units``.
    info : dict
        ``to``; ``clipped_m2``, the area left out for lying outside the parent; ``taken``, the units
        that gave land: ``code``, ``area_m2`` and, for communities, the ``grid`` that moved.

    Raises
    ------
    gis.errors.EditError
        When ``to`` is not one of ``units``, the area is outside the parent or takes nothing, or a
        unit would be emptied.

    Examples
    --------
    >>> from gis import read_city
    >>> from gis.edit import in_street
    >>> city = read_city("data/sample.gpkg")                      # its CRS is its metric CRS
    >>> street, one, two = "360102001000", "360102001009-01", "360102001009-02"
    >>> units = city["grids"][in_street(city, "grids", street)][["code", "name", "geometry"]]
    >>> g = units.set_index("code").geometry
    >>> band = (g[one].boundary & g[two].boundary).buffer(60, quad_segs=1)  # along their shared line
    >>> new, info = draw(city, street, "grids", units, band, to=two)
    >>> [t["code"] for t in info["taken"]], bool(new.set_index("code").area[two] > g[two].area)
    (['360102001009-01', '360102001009-03'], True)
    """
    codes = units["code"].tolist()
    if to not in codes:
        raise EditError(f"{to!r} 不是本街道的{LABELS[level]} (to: {to!r} is not one of street {street}'s "
                        f"{level})")
    t = codes.index(to)
    metric = city.metric_crs
    geoms = np.asarray(units.to_crs(metric).geometry.values, dtype=object).copy()
    if level == "communities":
        streets = city["streets"]
        parent = shapely.union_all(np.asarray(streets.loc[streets["code"] == street].to_crs(metric).geometry.values,
                                              dtype=object))
        where = f"街道 {street}"
    else:
        comms = city["communities"][city["communities"]["street_code"] == street].to_crs(metric)
        overlap = shapely.area(shapely.intersection(np.asarray(comms.geometry.values, dtype=object), geoms[t]))
        k = int(np.argmax(overlap))
        parent = comms.geometry.values[k]
        where = _label(comms, k, "communities")
    inside = polygonal(np.array([shapely.intersection(area, parent)]))[0]
    clipped = float(area.area - inside.area)
    if inside.area <= OUTSIDE_TOLERANCE_M2:
        raise EditError(f"画出的范围不在{where}内 (the drawn area lies outside {where}: a "
                        f"{LABELS[level]} takes land of its parent only)")
    before = geoms.copy()
    others = np.asarray(city[level][~in_street(city, level, street)].to_crs(metric).geometry.values, dtype=object)
    if level == "communities":
        moved = _grids_into(city, street, units, geoms, inside, t)
    else:
        moved = _area_into(city, units, geoms, others, inside, parent, t)
    changed = [t, *sorted({i for i, _, _ in moved})]
    for i in changed[1:]:
        if shapely.area(geoms[i]) <= OUTSIDE_TOLERANCE_M2:
            raise EditError(f"画出的范围会清空{_label(units, i, level)}，请改用合并 "
                            f"(the drawn area would empty {codes[i]}; merge it instead)")
    changed = node_changed(geoms, np.r_[before, others], changed, NODE_M, PIECE_M2)
    final = np.asarray(units.geometry.values, dtype=object).copy()
    final[changed] = np.asarray(gpd.GeoSeries(geoms[changed], crs=metric).to_crs(units.crs).values, dtype=object)
    result = units.set_geometry(gpd.GeoSeries(final, index=units.index, crs=units.crs))
    info = {"to": to, "clipped_m2": round(clipped, 1),
            "taken": [{"code": codes[i], "area_m2": round(float(a), 1), **({"grid": g} if g else {})}
                      for i, a, g in moved]}
    return onto_stored(result, city, level), info


def _grids_into(city: City, street: str, units, geoms: np.ndarray, area, t: int) -> list[tuple[int, float, str]]:
    """Communities: the street's grids more than half inside ``area`` go whole to unit ``t``
    (``geoms`` changed in place); (giving unit, area, grid) of each."""
    grids = city["grids"][in_street(city, "grids", street)].to_crs(city.metric_crs)
    g = np.asarray(grids.geometry.values, dtype=object)
    share = shapely.area(shapely.intersection(g, area)) / shapely.area(g)
    metric_units = units.set_geometry(gpd.GeoSeries(geoms, index=units.index, crs=city.metric_crs))
    member = containing(metric_units, g)
    codes = units["code"].tolist()
    go = np.flatnonzero((share > 0.5) & np.array([m is not None and m != codes[t] for m in member], bool))
    if not len(go):
        raise EditError("画出的范围没有盖住任何网格的一半以上：社区边界沿网格线调整 "
                        "(the drawn area covers no grid by more than half; community lines move by whole grids)")
    moved = []
    for j in go:
        i = codes.index(member[j])
        geoms[i] = shapely.difference(geoms[i], g[j])
        moved.append((i, float(shapely.area(g[j])), grids["code"].iloc[j]))
    geoms[t] = shapely.union_all(np.r_[[geoms[t]], g[go]])
    return moved


def _area_into(city: City, units, geoms: np.ndarray, others: np.ndarray, area, parent, t: int
               ) -> list[tuple[int, float, None]]:
    """Grids: ``area`` (inside ``parent``) goes to unit ``t`` from the units it overlaps
    (``geoms`` changed in place); (giving unit, area, None) of each. Where the new line meets a
    unit of another street (``others``) it ends at one of that unit's vertices (those lines are not
    ours to change); buildings stay whole."""
    everyone = np.r_[geoms, others]
    tree = shapely.STRtree(everyone)
    near = everyone[tree.query(area.buffer(DRAW_SNAP_M), predicate="intersects")]
    area = shapely.snap(area, shapely.union_all(shapely.boundary(near)), DRAW_SNAP_M)
    area = polygonal(np.array([shapely.intersection(shapely.make_valid(area), parent, grid_size=GRID_M)]))[0]
    foreign = others[shapely.dwithin(others, parent, NODE_M)]
    if len(foreign):
        line = shapely.union_all(shapely.boundary(foreign))
        xy = vertices(foreign)
        area = _pin(area, line, xy[shapely.distance(shapely.points(xy), shapely.boundary(parent)) <= NODE_M])
    if "buildings" in city:
        area = _whole_buildings(area, np.asarray(city["buildings"].to_crs(city.metric_crs).geometry.values,
                                                 dtype=object))
    area = polygonal(np.array([shapely.intersection(area, parent, grid_size=GRID_M)]))[0]
    moved, pieces = [], []
    for i in np.flatnonzero(shapely.intersects(geoms, area)):
        piece = polygonal(np.array([shapely.intersection(geoms[i], area, grid_size=GRID_M)]))[0]
        if i != t and piece.area > OUTSIDE_TOLERANCE_M2:
            geoms[i] = polygonal(np.array([shapely.difference(geoms[i], area, grid_size=GRID_M)]))[0]
            moved.append((int(i), float(piece.area), None))
            pieces.append(piece)
    # land of the area in no unit (a gap) goes to ``t`` too
    held = shapely.union_all(everyone[tree.query(area, predicate="intersects")])
    free = shapely.get_parts(polygonal(np.array([shapely.difference(area, held, grid_size=GRID_M)]))[0])
    pieces += list(free[shapely.area(free) > OUTSIDE_TOLERANCE_M2])
    if not any(a > OUTSIDE_TOLERANCE_M2 for _, a, _ in moved) and len(pieces) == len(moved):
        raise EditError(f"画出的范围没有从其他网格划入土地：它已属于{_label(units, t, 'grids')}，"
                        f"或只切过整栋建筑 (the drawn area takes nothing from other grids: it is "
                        f"{units['code'].iloc[t]}'s already, or only cuts through whole buildings)")
    geoms[t] = shapely.union_all(np.r_[[geoms[t]], pieces], grid_size=GRID_M)
    return moved


def _whole_buildings(area, buildings: np.ndarray) -> shapely.Geometry:
    """``area`` with every block of buildings it cuts either added (half or more of its footprint
    inside) or taken out: a drawn line never splits a building between two units (人无遗漏). A block
    is a building with all the buildings overlapping it, since those move together."""
    polys = buildings[shapely.get_type_id(buildings) != 0]
    if not len(polys):
        return area
    tree = shapely.STRtree(polys)
    hit = tree.query(area, predicate="intersects")
    share = shapely.area(shapely.intersection(polys[hit], area)) / np.maximum(shapely.area(polys[hit]), 1e-12)
    seen, add, sub = set(), [], []
    for start in hit[(share > 1e-9) & (share < 1 - 1e-9)].tolist():
        if start in seen:
            continue
        seen.add(start)
        block, todo = [], [start]
        while todo:  # the cut building and all that overlap it, transitively
            i = todo.pop()
            block.append(i)
            near = tree.query(polys[i], predicate="intersects")
            for j in near[shapely.area(shapely.intersection(polys[near], polys[i])) > 0].tolist():
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        whole = shapely.union_all(polys[block])
        (add if shapely.area(shapely.intersection(whole, area)) >= whole.area / 2 else sub).append(whole)
    return shapely.union_all(np.r_[[shapely.difference(area, shapely.union_all(sub))], add])


def _pin(area, line, ends: np.ndarray) -> shapely.Geometry:
    """``area`` meeting ``line`` only at the points ``ends``: where the edge from an inner vertex X
    reaches ``line`` at P between two of them, it is moved to the nearest one V — the triangle
    X P V is cut away when the area runs along ``line`` from P to V, added otherwise."""
    if not len(ends):
        return area
    tree = shapely.STRtree(shapely.points(ends))
    rings = [r for p in shapely.get_parts(area) for r in (p.exterior, *p.interiors)]
    for ring in rings:
        xy = shapely.get_coordinates(ring)[:-1]
        on = shapely.distance(shapely.points(xy), line) <= NODE_M
        for k in np.flatnonzero(on):
            p = xy[k]
            v = ends[tree.nearest(shapely.Point(p))]
            if np.hypot(*(p - v)) <= NODE_M:
                continue
            for x in (xy[k - 1], xy[(k + 1) % len(xy)]):
                if shapely.distance(shapely.Point(x), line) > NODE_M:
                    tri = shapely.Polygon([x, p, v])
                    along = shapely.distance(shapely.Point((p + v) / 2), shapely.boundary(area)) <= NODE_M
                    area = polygonal(np.array([shapely.difference(area, tri) if along
                                               else shapely.union(area, tri)]))[0]
    return area


def _label(units: gpd.GeoDataFrame, i: int, level: str) -> str:
    """'网格 第2网格(360102001003-02)': unit ``i`` for messages."""
    name, code = units["name"].iloc[i] if "name" in units else None, units["code"].iloc[i]
    return f"{LABELS[level]} {name}({code})" if isinstance(name, str) and name else f"{LABELS[level]} {code}"
