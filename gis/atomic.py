"""All-or-nothing writes: a temporary file beside the target, renamed into place on success.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> with replacing(target) as tmp:
...     _ = tmp.write_text("网格", encoding="utf-8")
>>> target.read_text(encoding="utf-8")
'网格'
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from gis.errors import OutputError


@contextmanager
def replacing(path):
    """Yield a temporary path (not yet created) that replaces ``path`` when the block succeeds.

    On any error the target is untouched and the temporary file removed; OS and driver errors
    become :class:`gis.errors.OutputError` naming the target.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("folder does not exist", file=path)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, prefix=f".{path.name}.", dir=parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        if os.path.exists(tmp):
            os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except OutputError:
        raise
    except (OSError, RuntimeError, ValueError, NotImplementedError, TypeError) as e:
        raise OutputError(f"could not write: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}",
                          file=path) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
