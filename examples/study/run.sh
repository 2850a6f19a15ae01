#!/usr/bin/env bash
# Regenerate the example study and its report in one command (from anywhere):
#   examples/study/run.sh            -> examples/study/out/{study.json,raw/,report.html,report.json}
# The study starts its own vendor emulators on free loopback ports (study.yaml: emulators); nothing leaves
# the machine. Set HYBRIDGATE=/path/to/hybridgate to use another install (default: the repo's .venv).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
hg="${HYBRIDGATE:-$root/.venv/bin/hybridgate}"
out="$here/out"
export HF_HUB_OFFLINE=1
cd "$root"
"$hg" study run "$here/study.yaml" --out "$out"
"$hg" report "$out" --out "$out/report.html"
