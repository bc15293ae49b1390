# Sourced by the scripts: make .venv hold the project and the extras named in $HUB_EXTRAS.
# Reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=".venv/.installed-${HUB_EXTRAS:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".${HUB_EXTRAS:+[$HUB_EXTRAS]}" \
        > .venv/install.log 2>&1; then
        cat .venv/install.log >&2
        exit 1
    fi
    touch "$stamp"
fi
