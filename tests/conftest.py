from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BEIJING = ROOT.parent / "shared" / "data" / "beijing-subdistricts"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
