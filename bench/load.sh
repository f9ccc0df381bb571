#!/usr/bin/env bash
# The load benchmark (benches/load.rs): installs wrk from Debian's packages when it is
# missing, then runs `cargo bench --bench load`, which builds the release binary and
# prints the table that BENCHMARKS.md keeps. Not part of CI: timings on shared machines
# are noisy, so the figures live in BENCHMARKS.md, not in tests.
#
#   bench/load.sh            the full run (about four minutes)
#   bench/load.sh --quick    short phases and a small delivery burst, to check it works
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v wrk >/dev/null 2>&1; then
    sudo=()
    if ((EUID != 0)) && command -v sudo >/dev/null 2>&1; then
        sudo=(sudo --non-interactive)
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install --yes --no-install-recommends wrk
fi
exec cargo bench --bench load -- "$@"
