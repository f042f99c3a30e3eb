#!/bin/sh
# install-deps.sh - install the Debian/Ubuntu packages the course needs.
#
# Called by `make deps` (and so by every other make target). It installs only
# what is missing, runs `apt-get update` at most once, uses sudo when not
# root, and on a system without apt-get prints the package list and stops.
#
# Usage: scripts/install-deps.sh [extra-package ...]
set -eu

# Base packages: compilers come with build-essential on most systems.
PACKAGES="check libsubunit-dev libcurl4-openssl-dev curl doxygen graphviz pkg-config patch"
# Chapter extras (05-native: OpenMP runtime for clang, OpenBLAS for the bench).
PACKAGES="$PACKAGES libomp-dev libopenblas-dev"
# 08-distributed: Open MPI (mpicc, mpirun) and its development files.
PACKAGES="$PACKAGES openmpi-bin libopenmpi-dev"
# The student's day and the docs: watch mode, plots.
PACKAGES="$PACKAGES inotify-tools gnuplot-nox"
PACKAGES="$PACKAGES $*"

missing=""
for p in $PACKAGES; do
    if command -v dpkg-query >/dev/null 2>&1; then
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$status" in
            *"install ok installed"*) continue ;;
        esac
    fi
    missing="$missing $p"
done

[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: this system has no apt-get." >&2
    echo "install-deps: please install these packages (or your system's equivalents):" >&2
    echo "   $missing" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-deps: not root and no sudo; as root run:" >&2
        echo "   apt-get update && apt-get install -y$missing" >&2
        exit 1
    fi
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
