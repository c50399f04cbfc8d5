"""A small district as government grid systems export it: the test data of real-data reading.

Two streets, six communities and seven grids near 东华门 in Beijing, written the way real exports
look rather than the way wangge writes: other column names, a GBK Shapefile of street names without
codes (and without ``.cpg``), communities referenced to their street by name, one community stored
in three features (its exclave apart), a copy of a community, one code on two names, a blank code,
an empty geometry, grids with blank codes and blank or wrong community codes, a grid declared in
the wrong community, and buildings digitised on Amap (GCJ-02). ``data/exported/`` is this district;
rewrite it with ``uv run python tests/exported.py data/exported``.

Layout in metres east and north of a corner (每格 1 km × 0.5 km unless said)::

    y 500–1000 | 东厂 (G3)             | 东厂 (G4) | 府苑 B2 (G2) | 景山 (G5) | 黄化门 (G6) | 钟鼓 (G7)
    y 0–500    | 府苑 A (G1: declared 东厂) | 东厂 (G4) | 府苑 B  (G2) | 景山 (G5) | 黄化门 (G6) | 钟鼓 (G7)
    x          0                    1000        1500          2000        3000          3500        4000
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pyproj
from shapely import Polygon, box, union_all

from gis.chinacrs import from_wgs84

GK = "EPSG:4548"  # CGCS2000 3° Gauss–Krüger CM 117E: Beijing's metric zone
X0, Y0 = pyproj.Transformer.from_crs(4326, GK, always_xy=True).transform(116.395, 39.905)


def m(x0, y0, x1, y1):
    """A box given in metres from the corner."""
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


#: The units of the district: what a correct reading makes of the export.
STREETS = {"东华门街道": m(0, 0, 2000, 1000), "景山街道": m(2000, 0, 4000, 1000)}
GRID_BOXES = {"G1": (0, 0, 1000, 500), "G2": (1500, 0, 2000, 1000), "G3": (0, 500, 1000, 1000),
              "G4": (1000, 0, 1500, 1000), "G5": (2000, 0, 3000, 1000), "G6": (3000, 0, 3500, 1000),
              "G7": (3500, 0, 4000, 1000)}
HOUSEHOLDS = 200  # per grid: one building each, within the national grid bounds (100–500)


def streets() -> gpd.GeoDataFrame:
    """Names only: the code column of the mapping is the name column."""
    return gpd.GeoDataFrame({"街道名称": list(STREETS)}, geometry=list(STREETS.values()), crs=GK)


def communities() -> gpd.GeoDataFrame:
    """Nine features for six communities, each feature carrying its community's 户数."""
    east = union_all([m(0, 500, 1000, 1000), m(1000, 0, 1500, 1000)])
    rows = [  # code, name, street (by name), households, geometry
        ("110101001001", "府苑社区", "东华门街道", 400, m(0, 0, 1000, 500)),        # part A
        ("110101001002", "东厂社区", "东华门街道", 400, east),
        ("110101001001", "府苑社区", "东华门街道", 400, m(1500, 0, 2000, 500)),     # part B
        ("110101001001", "府苑社区", "东华门街道", 400, m(1500, 500, 2000, 1000)),  # part B2, touching B
        ("110101002001", "景山社区", "景山街道", 200, m(2000, 0, 3000, 1000)),
        ("110101002001", "黄化门社区", "景山街道", 200, m(3000, 0, 3500, 1000)),    # one code, two names
        ("", "钟鼓社区", "景山街道", 200, m(3500, 0, 4000, 1000)),                  # blank code
        ("110101002004", "吉祥社区", "景山街道", 0, Polygon()),                     # empty geometry
        ("110101001002", "东厂社区", "东华门街道", 400, m(1000, 0, 1500, 1000)),    # a copy
    ]
    code, name, street, hh, geom = zip(*rows)
    return gpd.GeoDataFrame({"社区编码": code, "社区名称": name, "所属街道": street, "户数": hh},
                            geometry=list(geom), crs=GK)


def grids() -> gpd.GeoDataFrame:
    declared = {"G1": "110101001002",   # lies in 府苑 (part A), declared 东厂
                "G2": "110101001001",   # in 府苑's exclave (parts B, B2)
                "G3": "110101001002", "G4": " ",  # blank community code
                "G5": "110101002009",   # a code that exists nowhere; lies in 景山
                "G6": "110101002001", "G7": None}
    codes = {"G6": "", "G7": None}  # grids without codes
    keys = list(GRID_BOXES)
    return gpd.GeoDataFrame({"网格编号": [codes.get(k, f"1101010{k}") for k in keys],
                             "网格名称": [f"第{k[1]}网格" for k in keys],
                             "社区编码": [declared[k] for k in keys]},
                            geometry=[m(*GRID_BOXES[k]) for k in keys], crs=GK)


def buildings() -> gpd.GeoDataFrame:
    """One point per grid, 150 m from its west edge, digitised on Amap: GCJ-02 lon/lat (about
    500 m east of WGS84 here, so read as WGS84 each would fall in the next grid)."""
    keys = list(GRID_BOXES)
    pts = gpd.GeoSeries([m(b[0] + 150, b[1] + 200, b[0] + 160, b[1] + 210).centroid
                         for b in (GRID_BOXES[k] for k in keys)], crs=GK).to_crs(4326)
    return gpd.GeoDataFrame({"楼栋编号": [f"B{k[1]}" for k in keys], "户数": [HOUSEHOLDS] * len(keys)},
                            geometry=from_wgs84(pts.values, "GCJ-02"), crs=4326)


MAPPING = '''# A district as exported: names for codes, GBK Shapefiles, Amap (GCJ-02) points.
crs = "EPSG:4326"

[layers.streets]
source = "街道.shp"
encoding = "gbk"
code = "街道名称"      # no codes: the names are the codes
name = "街道名称"

[layers.communities]
source = "社区.geojson"
code = "社区编码"
name = "社区名称"
street_code = "所属街道"  # the street's name
households = "户数"

[layers.grids]
source = "网格.shp"
encoding = "gbk"
code = "网格编号"
name = "网格名称"
community_code = "社区编码"

[layers.buildings]
source = "楼栋.geojson"
crs = "GCJ-02"           # digitised on Amap
code = "楼栋编号"
households = "户数"
'''


def write(folder) -> Path:
    """Write the district's files and its mapping file ``exported.toml`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, gdf in (("街道.shp", streets()), ("网格.shp", grids())):
        gdf.to_crs(4326).to_file(folder / name, engine="pyogrio", encoding="gbk")
        (folder / name).with_suffix(".cpg").unlink(missing_ok=True)
    communities().to_crs(4326).to_file(folder / "社区.geojson", engine="pyogrio")
    buildings().to_file(folder / "楼栋.geojson", engine="pyogrio")
    path = folder / "exported.toml"
    path.write_text(MAPPING, encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write(sys.argv[1]))
