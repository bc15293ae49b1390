# Sourced by the scripts: make .venv hold the project and the extras named in $HUB_EXTRAS.
# Reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=".venv/.installed-${HUB_EXTRAS:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${HUB_EXTRAS:+[$HUB_EXTRAS]}"
    touch "$stamp"
fi
