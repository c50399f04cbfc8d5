"""The ``wangge`` command line: parse, call the ``gis`` functions, format. Nothing else lives here.

One module per command group (:mod:`~gis.cli.check`, :mod:`~gis.cli.rules`, :mod:`~gis.cli.synth`,
:mod:`~gis.cli.coverage`, :mod:`~gis.cli.simulate`), what they share in :mod:`~gis.cli.common`, the
command assembled in :mod:`~gis.cli.main` (``wangge = "gis.cli.main:app"``).
"""
