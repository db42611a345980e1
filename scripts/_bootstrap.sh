# Sourced by the other scripts: make sure uv exists and the locked environment is installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export UV_PYTHON_DOWNLOADS=never  # use this machine's CPython (>= 3.11), never fetch one
if ! command -v uv >/dev/null 2>&1; then
  export PATH="$HOME/.local/bin:$PATH"
  command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet --user uv
fi
uv sync --frozen --quiet --extra server  # the service; the client alone needs no extra
