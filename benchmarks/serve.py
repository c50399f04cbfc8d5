"""Benchmark of ``wangge serve`` under 50 concurrent viewers of a street, against TiPg.

Run on demand (not in CI); only 127.0.0.1 is contacted::

    export WANGGE_TEST_POSTGIS_URL=$(bash scripts/postgis.sh)
    uv run --group bench python benchmarks/serve.py                # sample + 100,000-grid city
    uv run --group bench python benchmarks/serve.py --cities sample --views 2

For each city (the sample, and ``gis.synth.synth(100_000, seed=1, building_shape="point",
buildings_per_grid=4)``) it starts, on free ports with ``WANGGE_PUBLIC_READ=true``:

- ``wangge serve`` on the embedded SQLite store (``benchmarks/.cache/serve-<city>.sqlite``), with
  ``--workers`` 1 and 2 (rows ``sqlite`` and ``sqlite ×2``; ``--workers`` here picks the counts);
- ``wangge serve`` on PostGIS, the same (schema ``bench_<city>`` of the ``scripts/postgis.sh`` database);
- TiPg (``uvicorn tipg.main:app``) on copies of the same PostGIS tables with a typed geometry column
  (``geometry(Geometry, <srid>)``, GiST-indexed; TiPg needs the SRID in the column type).

The city is loaded once (``api.store.Store(url).load(city)``) and kept: later runs reuse the stores.
Then, per server and endpoint, ``--viewers`` concurrent viewers (httpx.AsyncClient) each look at
``--views`` streets (the same streets, in the same order, on every server): ``items`` — the grids in
the street's bbox (``limit=1000``); ``tiles`` — the grids and buildings tiles covering that bbox at the
zoom that shows the street on about 2×2 tiles. It prints p50/p95 latency, throughput and errors per
(store, city, endpoint), and the throughput of each wangge store relative to TiPg.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache"
HOST = "127.0.0.1"
SIZE = 100_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- the stores ---------------------------------------------------------------------------------------

def postgis_base() -> str:
    url = os.environ.get("WANGGE_TEST_POSTGIS_URL")
    if not url:
        url = subprocess.run(["bash", str(ROOT / "scripts" / "postgis.sh")], capture_output=True, text=True,
                             check=True).stdout.strip().splitlines()[-1]
    return url


def schema_url(base: str, schema: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f"create schema if not exists {schema}"))
    engine.dispose()
    return sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema},public"}) \
        .render_as_string(hide_password=False)


def city_of(name: str):
    from gis import read_city

    if name == "sample":
        return read_city(ROOT / "data" / "sample.gpkg")
    from gis.synth import synth

    t = time.perf_counter()
    city, _ = synth(SIZE, seed=1, building_shape="point", buildings_per_grid=4)
    log(f"  [{name}] generated in {time.perf_counter() - t:.0f} s")
    return city


def prepare(name: str, base: str) -> dict[str, str]:
    """The URLs of the SQLite and PostGIS stores holding city ``name`` (loaded once, then reused),
    and of the TiPg copy."""
    from api.store import Store

    CACHE.mkdir(exist_ok=True)
    urls = {"sqlite": f"sqlite:///{CACHE / f'serve-{name}.sqlite'}", "postgis": schema_url(base, f"bench_{name}")}
    city = None
    for kind, url in urls.items():
        store = Store(url)
        if store.version() == 0:
            city = city or city_of(name)
            t = time.perf_counter()
            store.load(city, source=f"benchmark city {name}")
            log(f"  [{name}] loaded into {kind} in {time.perf_counter() - t:.0f} s")
        store.close()
    urls["tipg"] = tipg_copy(name, base, urls["postgis"])
    return urls


def tipg_copy(name: str, base: str, store_url: str) -> str:
    """Schema ``bench_tipg_<name>``: the grids and buildings tables of the PostGIS store with their
    geometry column typed ``geometry(Geometry, srid)`` and a GiST index (made once)."""
    import sqlalchemy as sa

    from api.store import Store
    from gis.model import SCHEMA

    schema = f"bench_tipg_{name}"
    store = Store(store_url)
    with store.engine.connect() as conn:
        srid = conn.execute(sa.text("select srid from versions order by version desc limit 1")).scalar()
    store.close()
    engine = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        if not conn.execute(sa.text("select 1 from information_schema.schemata where schema_name = :s"),
                            {"s": schema}).scalar():
            conn.execute(sa.text(f"create schema {schema}"))
            for layer in ("grids", "buildings"):
                cols = ", ".join(f'"{c}"' for c in SCHEMA[layer])
                conn.execute(sa.text(f"create table {schema}.{layer} as select fid, {cols}, "
                                     f"geom::geometry(Geometry, {srid}) as geom from bench_{name}.{layer}"))
                conn.execute(sa.text(f"alter table {schema}.{layer} add primary key (fid)"))
                conn.execute(sa.text(f"create index on {schema}.{layer} using gist (geom)"))
                conn.execute(sa.text(f"analyze {schema}.{layer}"))
    engine.dispose()
    return schema


# ---- the servers ----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, label: str, command: list[str], env: dict, ready_path: str):
        self.label, self.port = label, free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log = open(CACHE / f"{label.replace(' ', '-')}.log", "w")
        command = [a.replace("{port}", str(self.port)) for a in command]
        self.proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=ROOT)
        self.ready_path = ready_path

    def wait(self, timeout: float = 180) -> None:
        import httpx

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited ({self.proc.returncode}); see {self.log.name}")
            try:
                if httpx.get(self.base + self.ready_path, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.label} did not answer in {timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def wangge(label: str, url: str, workers: int = 1) -> Server:
    exe = str(Path(sys.executable).parent / "wangge")
    return Server(label, [exe, "serve", "--host", HOST, "--port", "{port}", "--db", url, "--workers", str(workers)],
                  {"WANGGE_PUBLIC_READ": "true", "WANGGE_DATABASE_URL": url}, "/conformance")


def tipg_server(label: str, base: str, schema: str) -> Server:
    import sqlalchemy as sa

    dsn = sa.engine.make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    return Server(label, [sys.executable, "-m", "uvicorn", "tipg.main:app", "--host", HOST, "--port", "{port}",
                          "--log-level", "warning"],
                  {"DATABASE_URL": dsn, "TIPG_DB_SCHEMAS": f'["{schema}"]', "TIPG_DB_EXCLUDE_FUNCTION_SCHEMAS":
                   '["public"]', "TIPG_MAX_FEATURES_PER_QUERY": "10000"}, f"/collections/{schema}.grids")


# ---- the viewers ----------------------------------------------------------------------------------------

def tile_at(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    lat = max(min(lat, 85.05), -85.05)
    return (min(int((lon + 180) / 360 * n), n - 1),
            min(int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n), n - 1))


def street_views(name: str, n: int, seed: int = 0) -> list[dict]:
    """``n`` street views of the city: each a WGS84 bbox and the tiles covering it at the zoom that
    shows the street on about 2×2 tiles."""
    from api.store import Store

    store = Store(f"sqlite:///{CACHE / f'serve-{name}.sqlite'}")
    streets = store.features("streets", limit=10_000).frame.to_crs(4326)
    store.close()
    rng = random.Random(seed)
    views = []
    for i in [rng.randrange(len(streets)) for _ in range(n)]:
        lon0, lat0, lon1, lat1 = streets.geometry.iloc[i].bounds
        z = max(0, min(18, int(math.log2(360 / max(lon1 - lon0, lat1 - lat0, 1e-6)))))
        (x0, y0), (x1, y1) = tile_at(lon0, lat1, z), tile_at(lon1, lat0, z)
        tiles = [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        views.append({"bbox": (lon0, lat0, lon1, lat1), "tiles": tiles})
    return views


def requests_of(kind: str, endpoint: str, view: dict, schema: str | None) -> list[str]:
    bbox = ",".join(f"{v:.7f}" for v in view["bbox"])
    if kind == "tipg":
        if endpoint == "items":
            return [f"/collections/{schema}.grids/items?bbox={bbox}&limit=1000"]
        return [f"/collections/{schema}.{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}"
                f"?properties={props}" for layer, props in (("grids", "code,name,households,residents"),
                                                            ("buildings", "code,households,residents"))
                for z, x, y in view["tiles"]]
    if endpoint == "items":
        return [f"/collections/grids/items?bbox={bbox}&limit=1000"]
    return [f"/collections/{layer}/tiles/{z}/{x}/{y}" for layer in ("grids", "buildings") for z, x, y in view["tiles"]]


async def run_load(base: str, paths_per_viewer: list[list[str]]) -> dict:
    import httpx

    latencies, errors, sizes = [], [], 0

    async def viewer(client, paths):
        nonlocal sizes
        for path in paths:
            t = time.perf_counter()
            try:
                r = await client.get(path)
                body = r.content
                ok = r.status_code in (200, 204)
            except httpx.HTTPError as e:
                ok, body, r = False, b"", e
            latencies.append(time.perf_counter() - t)
            sizes += len(body)
            if not ok:
                errors.append(getattr(r, "status_code", None) or type(r).__name__)

    limits = httpx.Limits(max_connections=len(paths_per_viewer), max_keepalive_connections=len(paths_per_viewer))
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        await viewer(client, paths_per_viewer[0][:2])  # warm up (imports, connections, caches)
        latencies.clear(), errors.clear()
        sizes = 0
        t = time.perf_counter()
        await asyncio.gather(*(viewer(client, p) for p in paths_per_viewer))
        wall = time.perf_counter() - t
    lat = sorted(latencies)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return {"requests": len(lat), "p50": pct(0.5), "p95": pct(0.95), "rps": len(lat) / wall, "wall": wall,
            "errors": len(errors), "error_kinds": sorted({str(e) for e in errors})[:3], "mb": sizes / 1e6}


def bench(server: Server, kind: str, views: list[dict], viewers: int, per_viewer: int, schema=None) -> dict:
    out = {}
    for endpoint in ("items", "tiles"):
        paths = [[p for v in views[i * per_viewer:(i + 1) * per_viewer] for p in requests_of(kind, endpoint, v, schema)]
                 for i in range(viewers)]
        out[endpoint] = asyncio.run(run_load(server.base, paths))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", nargs="+", default=["sample", "100k"], choices=["sample", "100k"])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--views", type=int, default=4, help="streets each viewer looks at (per endpoint)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="wangge serve --workers N: each store is run with each N")
    parser.add_argument("--no-tipg", action="store_true")
    args = parser.parse_args()

    base = postgis_base()
    rows, notes = [], []
    for name in args.cities:
        log(f"[{name}] preparing the stores")
        urls = prepare(name, base)
        views = street_views(name, args.viewers * args.views)
        ntiles = sum(len(v["tiles"]) for v in views) / len(views)
        log(f"[{name}] {len(views)} street views, {ntiles:.1f} tiles each per layer (zoom {views[0]['tiles'][0][0]}…)")
        servers = []  # started one at a time, each stopped before the next starts
        makers = [(f"{kind}{'' if n == 1 else f' ×{n}'}",
                   lambda kind=kind, n=n: wangge(f"wangge-{kind}-{name}-{n}", urls[kind], n))
                  for kind in ("sqlite", "postgis") for n in args.workers]
        if not args.no_tipg:
            try:
                import tipg  # noqa: F401

                makers.append(("tipg", lambda: tipg_server(f"tipg-{name}", base, urls["tipg"])))
            except ImportError as e:
                notes.append(f"TiPg baseline skipped: {e} (uv run --group bench …)")
        for kind, make in makers:
            server = None
            try:
                server = make()
                server.wait()
                log(f"[{name}] {kind}: {server.base}")
                result = bench(server, kind, views, args.viewers, args.views, urls["tipg"])
                for endpoint, r in result.items():
                    rows.append({"store": kind, "city": name, "endpoint": endpoint, **r})
                    log(f"  {kind:11} {endpoint:6} p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms  "
                        f"{r['rps']:7.1f} req/s  errors {r['errors']}")
            except RuntimeError as e:
                notes.append(f"{kind} on {name}: {e}")
            finally:
                if server is not None:
                    server.stop()

    tipg_rps = {(r["city"], r["endpoint"]): r["rps"] for r in rows if r["store"] == "tipg"}
    print(f"\n{args.viewers} concurrent viewers × {args.views} street views each, per endpoint "
          f"(items: grids in the street's bbox, limit 1000; tiles: grids + buildings tiles covering it)\n")
    head = f"{'store':11} {'city':7} {'endpoint':8} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} " \
           f"{'MB':>7} {'errors':>6} {'vs TiPg':>8}  p95<100ms"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = tipg_rps.get((r["city"], r["endpoint"]))
        ratio = f"{r['rps'] / ratio:7.2f}×" if ratio and r["store"] != "tipg" else ""
        print(f"{r['store']:11} {r['city']:7} {r['endpoint']:8} {r['requests']:8d} {r['p50']:8.1f} {r['p95']:8.1f} "
              f"{r['rps']:8.1f} {r['mb']:7.1f} {r['errors']:6d} {ratio:>8}  {'yes' if r['p95'] < 100 else 'NO'}"
              + (f"  ({', '.join(r['error_kinds'])})" if r["errors"] else ""))
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
