"""Read and write cities: a GeoPackage in the standard layout, or a mapping file (TOML) for real data.

A mapping file points at GeoPackage layers, GeoJSON files or Shapefiles (UTF-8 or GBK) and renames
their columns to the standard ones (``gis.model.SCHEMA``)::

    crs = "EPSG:4326"            # optional: used when a source has no CRS
    [layers.streets]
    source = "streets.geojson"   # relative to this file; "city.gpkg:layer"; a glob "*-all.geojson"
    [layers.roads]
    source = "extract.osm.pbf"   # OpenStreetMap (.osm / .pbf): ways tagged highway become roads
    code = "街道编码"             # standard column = source column
    name = "街道"
    [layers.grids]
    source = "grids.shp"
    code = "网格编号"
    encoding = "gbk"             # for Shapefiles without .cpg

Roads and barriers may come from an OpenStreetMap extract (``.osm`` or ``.osm.pbf``, read by GDAL):
ways tagged ``highway`` are roads, ``waterway``/``railway`` barriers, ``kind`` the tag's value; their
``bridge``, ``tunnel`` and ``layer`` tags become columns of those names.
A parent code column that is absent (e.g. ``street_code`` of communities) is inferred spatially
from the parent layer (largest overlap). Bad input raises :class:`gis.errors.InputError` naming
the file, layer, feature and problem.

Examples
--------
>>> city = read_city("data/sample.gpkg")
>>> city.levels
['streets', 'communities', 'grids']
"""

from __future__ import annotations

import codecs
import glob
import re
import tomllib
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from gis import chinacrs, reading
from gis.atomic import replacing
from gis.errors import InputError
from gis.model import LEVELS, PARENT, REQUIRED, SCHEMA, City
from gis.reading import ROW

OPTIONS = {"source", "encoding", "layer", "crs"}


def read_city(path, *, crs=None) -> City:
    """Read a city from a standard-layout GeoPackage or a mapping file (``.toml``)."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path)
    if path.suffix.lower() == ".toml":
        return read_mapping(path)
    if path.suffix.lower() == ".gpkg":
        return _read_gpkg(path, crs)
    raise InputError("expected a GeoPackage (.gpkg) in the standard layout or a mapping file (.toml); "
                     "for GeoJSON or Shapefiles write a mapping file", file=path)


def _read_gpkg(path: Path, crs) -> City:
    try:
        present = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as e:  # pyogrio raises several kinds for unreadable files
        raise InputError(f"cannot open as a GeoPackage: {_clean(e)}", file=path) from None
    wanted = [lyr for lyr in SCHEMA if lyr in present]
    if not any(lyr in LEVELS for lyr in wanted):
        raise InputError(f"no unit layer found (expected one of {', '.join(LEVELS)}; "
                         f"the file has {', '.join(present) or 'no layers'}): write a mapping file", file=path)
    layers = {lyr: _read_source(path, lyr, lyr, {}, None, crs) for lyr in wanted}
    return _assemble(layers, path)


def read_mapping(path) -> City:
    """Read a city described by a mapping file."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"not a valid TOML mapping file: {e}", file=path) from None
    crs = _check_crs(spec.get("crs"), path)
    layers_spec = spec.get("layers")
    if not isinstance(layers_spec, dict) or not layers_spec:
        raise InputError("the mapping has no [layers.NAME] tables", file=path)
    layers = {}
    for lyr, opts in layers_spec.items():
        if lyr not in SCHEMA:
            raise InputError(f"unknown layer [layers.{lyr}]; standard layers: {', '.join(SCHEMA)}", file=path)
        if not isinstance(opts, dict):
            raise InputError(f"layers.{lyr} must be a table: [layers.{lyr}] with source = \"…\"", file=path)
        if "source" not in opts:
            raise InputError(f"[layers.{lyr}] has no source", file=path)
        columns = {k: v for k, v in opts.items() if k not in OPTIONS}
        unknown = sorted(set(columns) - set(SCHEMA[lyr]))
        if unknown:
            raise InputError(f"[layers.{lyr}] maps unknown columns {unknown}; standard columns: "
                             f"{', '.join(SCHEMA[lyr])}", file=path)
        layer_crs = _check_crs(opts.get("crs"), path, f"[layers.{lyr}] ") or crs
        parts = []
        for file, layer_name in _sources(path.parent, opts, lyr, path):
            parts.append(_read_source(file, layer_name, lyr, columns, opts.get("encoding"), layer_crs))
        gdf = parts[0] if len(parts) == 1 else pd.concat([p.to_crs(parts[0].crs) for p in parts], ignore_index=True)
        layers[lyr] = gpd.GeoDataFrame(gdf, geometry="geometry", crs=parts[0].crs)
    if not any(lyr in LEVELS for lyr in layers):
        raise InputError(f"the mapping names no unit layer ({', '.join(LEVELS)})", file=path)
    return _assemble(layers, path)


def _check_crs(crs, mapping: Path, where: str = "") -> str | None:
    """``crs`` of a mapping file as given, once it is known: a CRS pyproj knows, or the datum of a
    Chinese web map (``GCJ-02``, ``BD-09``: :mod:`gis.chinacrs`)."""
    if crs is None or chinacrs.datum(crs):
        return crs
    try:
        pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as e:
        raise InputError(f"{where}crs = {crs!r} is not a known CRS (nor GCJ-02 or BD-09): {_clean(e)}",
                         file=mapping) from None
    return crs


def _sources(base: Path, opts: dict, lyr: str, mapping: Path) -> list[tuple[Path, str | None]]:
    """(file, layer) pairs of a mapping entry; a glob pattern may name several files."""
    src = str(opts["source"])
    layer = opts.get("layer")
    named = re.match(r"(.*?\.gpkg):(.+)$", src, flags=re.I)
    if named:
        src, layer = named.groups()
    if any(ch in src for ch in "*?["):
        files = sorted(glob.glob(str(base / src)))
        if not files:
            raise InputError(f"[layers.{lyr}] source pattern {src!r} matches no file", file=mapping)
        return [(Path(f), layer) for f in files]
    return [(base / src, layer)]


def _clean(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


#: OpenStreetMap extracts (GDAL's OSM driver): the tags that make a way a road or a barrier.
OSM_SUFFIXES = (".osm", ".pbf")
OSM_TAGS = {"roads": ("highway",), "barriers": ("waterway", "railway")}
#: Tags that lift a way off the ground or put it under (``gis.coverage.build_network`` reads them).
OSM_LEVEL_TAGS = ("bridge", "tunnel", "layer")


def _from_osm(gdf: gpd.GeoDataFrame, lyr: str) -> gpd.GeoDataFrame:
    """The ways of an OSM ``lines`` layer that are roads (or barriers): ``code`` = osm_id,
    ``kind`` = the tag's value (residential, river, rail…), and the ``OSM_LEVEL_TAGS`` from
    GDAL's ``other_tags`` (``"bridge"=>"yes","layer"=>"1"``)."""
    tags = [t for t in OSM_TAGS[lyr] if t in gdf.columns]
    kind = gdf[tags].bfill(axis=1).iloc[:, 0] if tags else pd.Series(None, index=gdf.index)
    out = gdf[kind.notna()].copy()
    out["code"] = out["osm_id"].astype(str)
    out["kind"] = kind[kind.notna()]
    other = out["other_tags"].astype(object) if "other_tags" in out else pd.Series(None, index=out.index, dtype=object)
    for tag in OSM_LEVEL_TAGS:
        value = other.str.extract(f'"{tag}"=>"([^"]*)"', expand=False).astype(object)
        out[tag] = value.where(value.notna(), None)
    return out.reset_index(drop=True)


def _read_source(file: Path, layer: str | None, lyr: str, columns: dict, encoding, crs) -> gpd.GeoDataFrame:
    """Read one source layer, rename its columns and validate it."""
    osm = file.suffix.lower() in OSM_SUFFIXES and lyr in OSM_TAGS
    if osm and layer is None:
        layer = "lines"
    where = {"file": file, "layer": layer or lyr}
    if not file.exists():
        raise InputError("file not found", **where)
    if encoding is not None:
        try:
            codecs.lookup(encoding)  # pyogrio silently falls back to UTF-8 for unknown names
        except (LookupError, TypeError):
            raise InputError(f"unknown encoding {encoding!r}; e.g. encoding = \"gbk\"", **where) from None
    if file.suffix.lower() == ".shp" and encoding is None and not file.with_suffix(".cpg").exists():
        encoding = "utf-8"  # strict: GBK bytes fail below with a clear message instead of mojibake
    if layer is not None:
        try:
            names = [n for n, _ in pyogrio.list_layers(file)]
        except Exception as e:
            raise InputError(f"cannot open: {_clean(e)}", **where) from None
        if layer not in names:
            raise InputError(f"no layer {layer!r} in this file (it has: {', '.join(names)})", **where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = pyogrio.read_dataframe(file, layer=layer, encoding=encoding)
    except UnicodeDecodeError as e:
        raise InputError(f"attributes are not {encoding or 'UTF-8'} text ({e.reason} at byte {e.start}); "
                         "name the encoding in the mapping, e.g. encoding = \"gbk\"", **where) from None
    except LookupError as e:
        raise InputError(f"unknown encoding {encoding!r}: {e}", **where) from None
    except Exception as e:
        raise InputError(f"cannot read: {_clean(e)}", **where) from None
    if osm:
        gdf = _from_osm(gdf, lyr)
    shift = chinacrs.datum(crs) if crs is not None else None
    if gdf.crs is None:
        if crs is None:
            raise InputError("no CRS: the source has none and the mapping sets no crs = \"EPSG:…\"", **where)
        gdf = gdf.set_crs(4326 if shift else crs)
    if shift:  # lon/lat read off a Chinese web map, whatever the file says: back to WGS84
        gdf = chinacrs.to_wgs84(gdf.to_crs(4326), shift)
    gdf = _rename(gdf, columns, where)
    if "code" not in gdf.columns and "name" in gdf.columns and lyr in LEVELS:
        gdf["code"] = gdf["name"]  # a layer of names only: its names are its codes
    for col in REQUIRED[lyr]:
        if col not in gdf.columns:
            also = "; a layer of names only: name = \"source column\"" if col == "code" else ""
            raise InputError(f"required column {col!r} missing: map it in the mapping file "
                             f"({col} = \"source column\"{also})", **where)
    gdf[ROW] = [f"{file.name}{':' + layer if layer and layer != lyr else ''} 第 {i} 行"
                for i in range(1, len(gdf) + 1)]
    return _coerce(gdf, lyr, where)


def _rename(gdf: gpd.GeoDataFrame, columns: dict, where: dict) -> gpd.GeoDataFrame:
    """The standard columns from their mapped source columns (one source column may give several,
    e.g. ``code`` and ``name`` of a layer of names only); source columns named like a mapped
    standard column give way to it."""
    missing = [src for std, src in columns.items() if src not in gdf.columns]
    if missing:
        raise InputError(f"mapped column(s) {missing} not in the source (it has: "
                         f"{', '.join(c for c in gdf.columns if c != 'geometry')})", **where)
    mapped = {std: gdf[src] for std, src in columns.items()}
    gdf = gdf.drop(columns=[c for c in gdf.columns if c in columns.values() or c in columns])
    for std, values in mapped.items():
        gdf[std] = values
    return gdf


def _coerce(gdf: gpd.GeoDataFrame, lyr: str, where: dict) -> gpd.GeoDataFrame:
    """Standard dtypes: codes as text (12-digit integers stay exact), counts as integers. A count
    that is blank, not a number or not a whole number ≥ 0 is read as 0 and noted in the column
    ``reading.INVALID`` (``(column, value as given)`` per feature) for an ``invalid_value`` finding;
    a blank measure (a float such as ``floor_area_m2``) is simply unknown (NaN)."""
    invalid = pd.Series([()] * len(gdf), index=gdf.index, dtype=object)
    for col, kind in SCHEMA[lyr].items():
        if col not in gdf.columns:
            continue
        s = gdf[col]
        if kind == "str":
            if pd.api.types.is_float_dtype(s) and (s.dropna() % 1 == 0).all():
                s = s.astype("Int64")
            gdf[col] = s.astype("string").astype(object).where(s.notna(), None)
        elif kind in ("int", "float"):
            text = s.astype(object).where(s.notna(), None)
            cleaned = text.map(lambda v: v.replace(",", "").strip() if isinstance(v, str) else v)
            num = pd.to_numeric(cleaned.where(~reading.blank(cleaned), None), errors="coerce")
            bad = (num.isna() & ~reading.blank(cleaned)) if kind == "float" else \
                num.isna() | (num < 0) | (num % 1 != 0)
            for i in np.flatnonzero(bad.to_numpy()):
                invalid.iloc[i] = (*invalid.iloc[i], (col, text.iloc[i]))
            gdf[col] = num.where(~bad, 0).astype("int64") if kind == "int" else num.where(~bad).astype(float)
        elif kind == "bool":
            gdf[col] = s.map(lambda v: str(v).strip().lower() in ("1", "true", "yes", "是", "t")).astype(bool)
    if invalid.map(len).any():
        gdf[reading.INVALID] = invalid
    return gdf


def _assemble(layers: dict[str, gpd.GeoDataFrame], source: Path) -> City:
    """One CRS for all layers, then the reading rule (:mod:`gis.reading`): defects of single
    features as findings, the features of one unit as one, parent codes by name or by location."""
    if not any(len(v) for v in layers.values()):
        raise InputError(f"no features in any layer ({', '.join(layers)})", file=source)
    crs = next(iter(layers.values())).crs
    defects = []
    for k, v in layers.items():
        v = (v if v.crs.equals(crs) else v.to_crs(crs)).reset_index(drop=True)
        layers[k], rows = reading.screen(v, k)
        defects += rows
    city = City({k: v.reset_index(drop=True) for k, v in layers.items()}, source=str(source))
    for lyr in city.levels:
        city.layers[lyr], city.parts[lyr] = reading.dissolve_parts(city[lyr], city.metric(lyr))
        city.layers[lyr] = city.layers[lyr].reset_index(drop=True)
        city._metric.pop(lyr, None)
    for lyr, (parent, col) in PARENT.items():
        if lyr not in city or parent not in city:
            continue
        gdf = city.layers[lyr]
        if col in gdf and lyr not in LEVELS:
            continue  # a building's or facility's declared place is checked as declared
        needed = np.ones(len(gdf), bool) if col not in gdf else reading.blank(gdf[col])
        inferred = np.full(len(gdf), None, dtype=object)
        if needed.any():
            inferred[needed] = infer_parent(city.metric(lyr)[needed], city.metric(parent))
        if col not in gdf:
            gdf[col] = pd.Series(inferred, index=gdf.index, dtype=object)  # None, not NaN
        else:
            gdf[col], rows = reading.link_parents(gdf, city[parent], col, lyr, inferred)
            defects += rows
        city._metric.pop(lyr, None)
    for lyr, gdf in city.layers.items():
        city.layers[lyr] = gdf.drop(columns=[ROW, reading.INVALID], errors="ignore")
    city._metric.clear()
    city.defects = defects
    return city


def infer_parent(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> np.ndarray:
    """Code of the parent each child overlaps most (None where it overlaps none).

    >>> from shapely import box
    >>> p = gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)])
    >>> c = gpd.GeoDataFrame({"code": ["a"]}, geometry=[box(8, 0, 18, 5)])
    >>> infer_parent(c, p).tolist()
    ['B']
    """
    cg, pg = children.geometry.values, parents.geometry.values
    out = np.full(len(cg), None, dtype=object)
    ci, pi = shapely.STRtree(pg).query(cg, predicate="intersects")
    if len(ci) == 0:
        return out
    if children.geom_type.isin(["Point"]).all():
        out[ci] = parents["code"].to_numpy()[pi]
        return out
    area = shapely.area(shapely.intersection(shapely.make_valid(cg[ci]), shapely.make_valid(pg[pi])))
    order = np.lexsort((-area, ci))
    ci, pi, area = ci[order], pi[order], area[order]
    first = np.r_[True, ci[1:] != ci[:-1]] & (area > 0)
    out[ci[first]] = parents["code"].to_numpy()[pi[first]]
    return out


def write_city(city: City, path) -> Path:
    """Write every layer of ``city`` to a GeoPackage; all or nothing (temporary file renamed into place)."""
    with replacing(path) as tmp:
        for name, gdf in city.layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", append=tmp.exists())
    return Path(path)
