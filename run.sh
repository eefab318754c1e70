#!/usr/bin/env bash
# The two commands of this project. Each creates (or reuses) ./.venv and installs what
# it needs, so a fresh machine needs only Python 3.10+ and pip.
#
#   ./run.sh show [OPTIONS]   the demonstration: `pixelshuffle show` (see --help)
#   ./run.sh test [PYTEST_ARGS]  lint and the whole test suite
#   ./run.sh sr [OPTIONS]     the super-resolution example (about a minute on a CPU)
set -euo pipefail
cd "$(dirname "$0")"

venv=.venv
python=${PYTHON:-python3}

# Install the package with `extras` into the venv, unless the same request (same
# extras, pyproject.toml and constraints) was installed before.
ensure_installed() {
    local extras=$1
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    local stamp
    stamp="$venv/.installed-$extras-$(cat pyproject.toml ci/constraints.txt | sha256sum | cut -c1-16)"
    if [ ! -e "$stamp" ]; then
        echo "run.sh: installing pixelshuffle[$extras] into $venv (first run only) ..." >&2
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet -c ci/constraints.txt -e ".[$extras]"
        touch "$stamp"
    fi
}

command=${1:-show}
shift || true
case "$command" in
show)
    ensure_installed plot
    exec "$venv/bin/pixelshuffle" show "$@"
    ;;
sr)
    ensure_installed examples
    exec "$venv/bin/python" examples/super_resolution.py "$@"
    ;;
test)
    ensure_installed test
    export PIXELSHUFFLE_TEST_FRAMEWORKS=${PIXELSHUFFLE_TEST_FRAMEWORKS:-all}
    export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}
    "$venv/bin/ruff" check conftest.py src tests examples benchmarks docs/griffe_docstrings.py
    "$venv/bin/ruff" format --check conftest.py src tests examples benchmarks docs/griffe_docstrings.py
    status=0
    "$venv/bin/python" -m pytest "$@" || status=$?
    if [ "$status" -eq 5 ]; then
        echo "run.sh: pytest collected no tests; that is a failure, not a pass" >&2
        exit 1
    fi
    exit "$status"
    ;;
*)
    echo "usage: ./run.sh show [OPTIONS] | ./run.sh test [PYTEST_ARGS] | ./run.sh sr [OPTIONS]" >&2
    exit 2
    ;;
esac
