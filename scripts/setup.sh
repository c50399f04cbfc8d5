# Sourced by scripts/main and scripts/test: make sure uv and the locked environment are present.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet uv
fi
uv sync --frozen --quiet
