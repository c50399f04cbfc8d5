"""Chinese web-map coordinates: GCJ-02 (Amap, Tencent) and BD-09 (Baidu), to and from WGS84.

Maps published in China shift WGS84/CGCS2000 longitudes and latitudes by GCJ-02, a non-linear
offset of up to 730 m (100–700 m in the east); Baidu shifts GCJ-02 again by BD-09 (~1 km more).
Data digitised on such a map is in that datum although its file says EPSG:4326, so ``to_wgs84``
moves it back and ``from_wgs84`` moves WGS84 data onto the web map.

The forward transforms are the published formulas: GCJ-02 as in coordtransform and eviltransform
(Krasovsky ellipsoid, a = 6378245 m, e² = 0.00669342162296594323), BD-09 as Baidu's
x_π = π·3000/180 twist of GCJ-02 plus (0.0065°, 0.006°). Neither has a closed-form inverse: the
inverses iterate u ← u − (f(u) − x) from u = x, whose first step is the published one-step
approximation (centimetres to metres off), until |f(u) − x| < 1e-10° (10 µm) at every vertex; the offsets'
derivatives are below 0.02, so a few steps suffice. Outside the box lon 72.004–137.8347,
lat 0.8293–55.8271 both datums are WGS84 (the published rule, decided on the coordinates given;
within ~1 km of the box's edge, far from any Chinese city, a round trip may jump the edge).

Sources: https://github.com/wandergis/coordtransform, https://github.com/googollee/eviltransform,
https://github.com/Artoria2e5/PRCoords.

Examples
--------
>>> import shapely
>>> gcj = from_wgs84([shapely.Point(116.404, 39.915)], "gcj02")
>>> print(shapely.to_wkt(gcj[0], rounding_precision=6))
POINT (116.410244 39.916404)
>>> print(shapely.to_wkt(to_wgs84(gcj, "GCJ-02")[0], rounding_precision=9))
POINT (116.404 39.915)
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gis.errors import InputError

#: The datums this module knows, by their canonical names.
DATUMS = ("GCJ-02", "BD-09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m), as GCJ-02 uses it
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_CHINA = (72.004, 137.8347, 0.8293, 55.8271)  # lon min, lon max, lat min, lat max
_TOL = 1e-10  # degrees: what the inverses leave of |f(u) − x|
_MAX_ITER = 30  # at most; 4–6 are taken
_NAMES = {"GCJ02": "GCJ-02", "GCJ02LL": "GCJ-02", "BD09": "BD-09", "BD09LL": "BD-09"}


def datum(name) -> str | None:
    """The Chinese web-map datum ``name`` declares, or None for any other CRS (left to pyproj).

    Parameters
    ----------
    name : str or None
        A declared CRS: ``GCJ-02``, ``gcj02``, ``BD-09``, ``bd09ll`` … (case, ``-``, ``_`` and
        spaces ignored); anything else, or None, gives None.

    Returns
    -------
    str or None
        ``"GCJ-02"``, ``"BD-09"`` or None.

    Examples
    --------
    >>> datum("gcj02"), datum("BD-09"), datum("bd09ll"), datum("EPSG:4326"), datum(None)
    ('GCJ-02', 'BD-09', 'BD-09', None, None)
    """
    return _NAMES.get(re.sub(r"[\s_-]", "", name).upper()) if isinstance(name, str) else None


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 longitudes and latitudes of WGS84 ones (unchanged outside China's box).

    Parameters
    ----------
    lon, lat : array_like
        WGS84 degrees.

    Returns
    -------
    (ndarray, ndarray)
        GCJ-02 degrees: lon + Δλ, lat + Δφ, where Δ is the published polynomial-and-sine offset in
        metres of (lon − 105, lat − 35) turned into degrees on the Krasovsky ellipsoid.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02([116.404, 2.3522], [39.915, 48.8566])  # Beijing, Paris
    >>> print(np.round(lon, 6), np.round(lat, 6))
    [116.410244   2.3522  ] [39.916404 48.8566  ]
    """
    return _in_china_only(_gcj, lon, lat)


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitudes and latitudes of GCJ-02 ones: ``wgs84_to_gcj02`` inverted to 1e-10°.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 degrees.

    Returns
    -------
    (ndarray, ndarray)
        WGS84 degrees (unchanged outside China's box).

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(116.41024449916938, 39.91640428150164)
    >>> print(f"{lon:.9f} {lat:.9f}")
    116.404000000 39.915000000
    """
    return _in_china_only(lambda x, y: _invert(_gcj, x, y), lon, lat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 longitudes and latitudes of GCJ-02 ones (unchanged outside China's box).

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 degrees (x, y).

    Returns
    -------
    (ndarray, ndarray)
        BD-09 degrees: z·cos θ + 0.0065, z·sin θ + 0.006 with z = √(x² + y²) + 2e-5·sin(y·x_π)
        and θ = atan2(y, x) + 3e-6·cos(x·x_π).

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)
    >>> print(f"{lon:.6f} {lat:.6f}")
    116.410369 39.921337
    """
    return _in_china_only(_bd, lon, lat)


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 longitudes and latitudes of BD-09 ones: ``gcj02_to_bd09`` inverted to 1e-10°.

    Parameters
    ----------
    lon, lat : array_like
        BD-09 degrees.

    Returns
    -------
    (ndarray, ndarray)
        GCJ-02 degrees (unchanged outside China's box).

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(116.41036949371029, 39.92133699351021)
    >>> print(f"{lon:.9f} {lat:.9f}")
    116.404000000 39.915000000
    """
    return _in_china_only(lambda x, y: _invert(_bd, x, y), lon, lat)


_FROM_WGS84 = {"GCJ-02": (wgs84_to_gcj02,), "BD-09": (wgs84_to_gcj02, gcj02_to_bd09)}
_TO_WGS84 = {"GCJ-02": (gcj02_to_wgs84,), "BD-09": (bd09_to_gcj02, gcj02_to_wgs84)}


def to_wgs84(data, datum: str):
    """Geometries digitised in a Chinese web-map datum, moved back to WGS84.

    Parameters
    ----------
    data : GeoDataFrame, GeoSeries, array_like of shapely geometries, or one geometry
        Longitudes and latitudes in ``datum``, whatever CRS a GeoDataFrame or GeoSeries claims
        (such files say EPSG:4326), as long as it is none or a geographic one. Any geometry type;
        empty geometries and None are kept, Z values too.
    datum : str
        ``GCJ-02`` or ``BD-09``, in any spelling ``datum`` knows.

    Returns
    -------
    Same kind as ``data``
        Every vertex moved (all at once, through ``shapely.transform``); a GeoDataFrame or
        GeoSeries labelled EPSG:4326, an array-like returned as an ndarray.

    Raises
    ------
    InputError
        When ``data`` claims a projected CRS (its coordinates cannot be web-map degrees).
    ValueError
        When ``datum`` is neither datum.

    Examples
    --------
    >>> import shapely
    >>> square = shapely.box(121.47, 31.23, 121.48, 31.24)  # Shanghai, on Amap
    >>> s = to_wgs84(gpd.GeoSeries([square, None], crs="EPSG:4326"), "GCJ-02")
    >>> print(s.crs.to_string(), np.round(s.total_bounds, 5), s[1])
    EPSG:4326 [121.46545  31.23192 121.47548  31.24194] None
    """
    crs = getattr(data, "crs", None)
    if crs is not None and not crs.is_geographic:
        raise InputError(f"{datum} coordinates are longitudes and latitudes, but the data is in the projected "
                         f"CRS {crs.name}")
    return _move(data, _steps(_TO_WGS84, datum))


def from_wgs84(data, datum: str):
    """Geometries moved onto a Chinese web map: WGS84 (or any CRS, reprojected first) to ``datum``.

    Parameters
    ----------
    data : GeoDataFrame, GeoSeries, array_like of shapely geometries, or one geometry
        A GeoDataFrame or GeoSeries in its CRS (none: taken as WGS84 longitudes and latitudes);
        geometries in WGS84 longitudes and latitudes. Empty geometries and None are kept.
    datum : str
        ``GCJ-02`` or ``BD-09``, in any spelling ``datum`` knows.

    Returns
    -------
    Same kind as ``data``
        Longitudes and latitudes in ``datum``; a GeoDataFrame or GeoSeries labelled EPSG:4326, as
        web maps take them, an array-like returned as an ndarray.

    Raises
    ------
    ValueError
        When ``datum`` is neither datum.

    Examples
    --------
    >>> import shapely
    >>> s = gpd.GeoSeries([shapely.Point(116.404, 39.915)], crs="EPSG:4326").to_crs("EPSG:4547")
    >>> bd = from_wgs84(s, "BD-09")
    >>> print(bd.crs.to_string(), np.round(shapely.get_coordinates(bd.values), 6))
    EPSG:4326 [[116.416627  39.9227  ]]
    """
    if isinstance(data, (gpd.GeoDataFrame, gpd.GeoSeries)) and data.crs is not None:
        data = data.to_crs("EPSG:4326")
    return _move(data, _steps(_FROM_WGS84, datum))


def to_crs(data: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """``data`` in the CRS named ``crs``: a Chinese web-map datum (``from_wgs84``) or one pyproj knows.

    Parameters
    ----------
    data : GeoDataFrame
        Features in their CRS.
    crs : str
        ``GCJ-02``, ``BD-09`` (any spelling ``datum`` knows) or anything ``pyproj.CRS`` reads
        (``EPSG:4326``, ``EPSG:4547``, WKT …).

    Returns
    -------
    GeoDataFrame
        Reprojected; in a web-map datum, longitudes and latitudes labelled EPSG:4326.

    Raises
    ------
    InputError
        When ``crs`` is neither a datum nor a CRS pyproj knows.

    Examples
    --------
    >>> import shapely
    >>> gdf = gpd.GeoDataFrame(geometry=[shapely.Point(116.404, 39.915)], crs="EPSG:4326")
    >>> to_crs(gdf, "gcj02").crs.to_string(), to_crs(gdf, "EPSG:4547").crs.to_string()
    ('EPSG:4326', 'EPSG:4547')
    >>> to_crs(gdf, "EPSG:999999")
    Traceback (most recent call last):
    gis.errors.InputError: unknown CRS 'EPSG:999999': give GCJ-02, BD-09 or one pyproj knows, such as EPSG:4326
    """
    if datum(crs):
        return from_wgs84(data, crs)
    try:
        target = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise InputError(f"unknown CRS {crs!r}: give GCJ-02, BD-09 or one pyproj knows, such as EPSG:4326") from None
    return data.to_crs(target)


def _steps(table: dict, name: str) -> tuple:
    """The numpy transforms ``table`` chains for the datum ``name``."""
    known = datum(name)
    if known is None:
        raise ValueError(f"{name!r} is not a Chinese web-map datum: one of {', '.join(DATUMS)}")
    return table[known]


def _move(data, steps):
    """``data`` with every vertex's lon, lat passed through ``steps`` (Z kept), labelled EPSG:4326."""
    def move(xyz: np.ndarray) -> np.ndarray:
        out = xyz.copy()
        for step in steps:
            out[:, 0], out[:, 1] = step(out[:, 0], out[:, 1])
        return out

    if isinstance(data, (gpd.GeoDataFrame, gpd.GeoSeries)):
        moved = gpd.GeoSeries(shapely.transform(np.asarray(data.geometry.values), move, include_z=None),
                              index=data.index, crs="EPSG:4326", name=data.geometry.name)
        return data.set_geometry(moved) if isinstance(data, gpd.GeoDataFrame) else moved
    return shapely.transform(data, move, include_z=None)


def _in_china_only(shift, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """``shift`` of the coordinates inside China's box; the others as given."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    slon, slat = shift(lon, lat)
    inside = _in_china(lon, lat)
    return np.where(inside, slon, lon), np.where(inside, slat, lat)


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether each point lies in the published box outside which the datums are WGS84."""
    return (lon >= _CHINA[0]) & (lon <= _CHINA[1]) & (lat >= _CHINA[2]) & (lat <= _CHINA[3])


def _gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 forward formula, everywhere (no box)."""
    x, y = lon - 105.0, lat - 35.0
    waves = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (waves + 20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)
               + 160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (waves + 20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)
               + 150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return lon + dlon, lat + dlat


def _bd(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The BD-09 forward formula from GCJ-02, everywhere (no box)."""
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) with ``forward(u, v)`` within ``_TOL`` of (lon, lat): u ← u − (f(u) − x) from u = x."""
    u, v = lon, lat
    for _ in range(_MAX_ITER):
        fu, fv = forward(u, v)
        du, dv = fu - lon, fv - lat
        if np.all((np.abs(du) < _TOL) & (np.abs(dv) < _TOL)):
            break
        u, v = u - du, v - dv
    return u, v
