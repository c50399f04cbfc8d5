"""The direction of imports: ``gis`` is the library, ``api`` the service built on it; ``gis`` never
imports ``api``.

One fresh interpreter imports ``gis`` and then every module of it in turn (``pkgutil``), and after
each looks for ``api`` in ``sys.modules``: the first module after which it is there is the one that
imports it. The exception is ``gis.cli.main``, which assembles the ``wangge`` command and loads the
commands other packages declare (``api.cli:app``, through the entry point group ``wangge.commands``).
"""

from __future__ import annotations

import subprocess
import sys

#: Modules of gis that may import api: they load it at run time, as plugins.
ASSEMBLY = ("gis.cli.main",)

SCRIPT = """
import importlib, pkgutil, sys

def api_loaded():
    return any(m == "api" or m.startswith("api.") for m in sys.modules)

import gis
assert not api_loaded(), "gis"
for module in pkgutil.walk_packages(gis.__path__, "gis."):
    if module.name not in {assembly}:
        importlib.import_module(module.name)
        assert not api_loaded(), module.name
        print(module.name)
"""


def test_gis_never_imports_api(root):
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(assembly=ASSEMBLY)], capture_output=True,
                          text=True, encoding="utf-8", cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stderr.strip().splitlines()[-1]  # AssertionError: <the module>
    imported = proc.stdout.split()
    assert {"gis.cli.check", "gis.cli.common", "gis.cli.coverage", "gis.cli.rules", "gis.cli.simulate",
            "gis.cli.synth", "gis.simulate", "gis.maps"} <= set(imported)


def test_the_assembly_adds_the_service_commands():
    import typer.main

    from gis.cli.main import app

    assert list(typer.main.get_command(app).commands) == ["check", "synth", "rules", "coverage", "load", "export",
                                                          "serve", "users", "simulate"]
