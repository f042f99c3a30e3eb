#!/usr/bin/env bash
# setup.sh - Gradescope runs this once when it builds the autograder image
# (Ubuntu, as root). It installs the compilers and the Debian packages the
# course needs; /autograder/source holds the course without solutions.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends build-essential make
/autograder/source/scripts/install-deps.sh
