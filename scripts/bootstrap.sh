#!/usr/bin/env bash
# Create .venv with Python >= 3.12 if it is missing, and install the pinned set.
#
# The interpreter is, in order: $PYTHON if the user names one; pyenv's for the
# version in .python-version; uv's; python3.12 / python3.13 / python3 on PATH.
# The install is pip with constraints.txt, so a fresh install is the install we
# tested. Re-running is cheap: nothing happens unless pyproject.toml or
# constraints.txt changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(tr -d '[:space:]' < .python-version)
venv=.venv
stamp=$venv/.milkbayes-installed

is_new_enough() {  # $1: an interpreter; true when it runs and is >= 3.12
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null
}

find_python() {
    if [ -n "${PYTHON:-}" ]; then
        if is_new_enough "$PYTHON"; then echo "$PYTHON"; return; fi
        echo "The interpreter named by PYTHON=$PYTHON is missing or older than 3.12." >&2
        exit 1
    fi
    local candidate
    if command -v pyenv >/dev/null 2>&1; then
        candidate=$(PYENV_VERSION="$want" pyenv which python 2>/dev/null || true)
        if [ -n "$candidate" ] && is_new_enough "$candidate"; then echo "$candidate"; return; fi
    fi
    if command -v uv >/dev/null 2>&1; then
        candidate=$(uv python find "$want" 2>/dev/null || true)
        if [ -n "$candidate" ] && is_new_enough "$candidate"; then echo "$candidate"; return; fi
    fi
    for candidate in "python$want" python3.13 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && is_new_enough "$(command -v "$candidate")"; then
            command -v "$candidate"; return
        fi
    done
    echo "No Python >= 3.12 was found (tried PYTHON, pyenv and uv with .python-version, and python3.12/3.13/python3 on PATH): install one, or run again with PYTHON=/path/to/python3.12." >&2
    exit 1
}

if [ ! -x "$venv/bin/python" ] || ! is_new_enough "$venv/bin/python"; then
    python=$(find_python)
    echo "Creating $venv with $("$python" --version 2>&1) ($python)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    rm -f "$stamp"
fi

if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    echo "Installing milkbayes and its pinned dependencies into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c constraints.txt -e ".[dev]"
    touch "$stamp"
fi
