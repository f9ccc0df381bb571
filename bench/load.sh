#!/usr/bin/env bash
# The load benchmark (benches/load.rs): installs wrk from Debian's packages when it is
# missing, then runs `cargo bench --bench load`, which builds the release binary and
# prints the table that BENCHMARKS.md keeps. Not part of CI: timings on shared machines
# are noisy, so the figures live in BENCHMARKS.md, not in tests.
#
#   bench/load.sh                  the full run (about seven minutes)
#   bench/load.sh --quick          short phases and small delivery bursts, to check it works
#   bench/load.sh --postgres-only  only the PostgreSQL phases (combines with --quick)
#
# The PostgreSQL phases run on the cluster BENCH_POSTGRES_URL names, or else
# TEST_POSTGRES_URL (a superuser URL, postgres://user@host:port/db; the benchmark creates
# a fresh database in it per phase and drops it at the end). With neither set, it starts
# a throwaway cluster with `.ci/postgres start` in a temporary folder, with durability
# turned back on, and stops it afterwards. A cluster named by either variable is used as
# it is: one from `.ci/postgres` has fsync off, so its figures are not the durable ones
# BENCHMARKS.md keeps.
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
