"""A real OGC client reads the API: ``wangge serve --workers 2`` in a subprocess, read with GDAL's
OAPIF driver (its pages answered by either of the two server processes).

The server runs in another process because pyogrio holds the GIL while GDAL waits for the answer.
"""

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyogrio
import pytest
import shapely

from api.store import Store
from api.testing import scratch_schema
from gis import read_city
from test_store import _postgis_or_skip


@pytest.fixture(params=["sqlite", "postgis"])
def server(request, tmp_path_factory, root):
    """``wangge serve --workers 2`` on an empty store (it loads the sample) at a free port on 127.0.0.1, open
    for reading: the URL, the store's URL and the server's log."""
    ctx = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('serve') / 'store.sqlite'}"
    else:
        ctx = scratch_schema(_postgis_or_skip())
        url = ctx.__enter__()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wangge = Path(sys.executable).parent / "wangge"
    log = tmp_path_factory.mktemp("log") / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(wangge), "serve", "--host", "127.0.0.1", "--port", str(port), "--db", url,
                                 "--workers", "2"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True,
                                env={**os.environ, "WANGGE_PUBLIC_READ": "true"})  # GDAL reads without a token
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:  # both processes up (each logs its start), and answering
        started = set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))
        ready = log.read_text().count("Application startup complete")
        try:
            if len(started) == ready == 2:
                httpx.get(base + "/", timeout=2, trust_env=False)
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)  # the server and its worker processes
            pytest.fail(f"wangge serve --workers 2 did not start two processes:\n{log.read_text()}")
        time.sleep(0.1)
    yield base, url, log
    proc.terminate()  # uvicorn stops its workers
    try:
        proc.wait(20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # any left (none, unless it hung)
    if ctx is not None:
        ctx.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    pyogrio.set_gdal_config_options({"GDAL_HTTP_TIMEOUT": "30"})


def test_gdal_reads_what_serve_loaded(server, root):
    """One test per backend: starting the server is the slow part (and xdist would start it twice)."""
    base, url, log = server
    store = Store(url)
    assert store.version() == 1 and store.history()[0]["source"].endswith("sample.gpkg")  # empty: sample
    store.close()
    names = [name for name, _ in pyogrio.list_layers(f"OAPIF:{base}")]
    sample = read_city(root / "data" / "sample.gpkg")
    assert sorted(names) == sorted(sample.layers)
    got = pyogrio.read_dataframe(f"OAPIF:{base}", layer="grids")
    want = sample["grids"].to_crs(4326)
    assert len(got) == len(want) > 0
    assert got.crs.to_epsg() == 4326
    for col in ("code", "name", "community_code", "kind", "basis"):
        assert got[col].tolist() == want[col].tolist(), col
    assert shapely.equals_exact(got.geometry.values, want.geometry.values, tolerance=1e-9).all()
    buildings = pyogrio.read_dataframe(f"OAPIF:{base}", layer="buildings")  # several pages
    assert buildings["code"].tolist() == sample["buildings"]["code"].tolist()
    # a connection idle for longer than httpx keeps its own (5 s) is still open (--keep-alive 75)
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)  # never reconnects by itself
    for _ in range(2):
        conn.request("GET", "/conformance")
        response = conn.getresponse()
        assert response.status == 200 and response.read()
        time.sleep(6)
    conn.close()
