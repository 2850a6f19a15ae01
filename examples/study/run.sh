#!/usr/bin/env bash
# Regenerate the example study and its report in one command (from anywhere):
#   examples/study/run.sh   -> examples/study/out/{study.json,raw/,shadow.json,report.html,report.json}
# 1. the study: every feature x provider on the same items (study.yaml; it starts its own vendor emulators);
# 2. shadow traffic: a short live run of the study's items through a gateway whose routes mirror every request
#    to a partner emulator (shadow_run.py, gateway-shadow.yaml); it saves GET /v1/shadow as out/shadow.json;
# 3. the report, with the shadow agreement from step 2.
# Everything runs on loopback ports; nothing leaves the machine. Set HYBRIDGATE=/path/to/hybridgate to use
# another install (default: the repo's .venv) and PYTHON to its interpreter (default: the python beside it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
hg="${HYBRIDGATE:-$root/.venv/bin/hybridgate}"
py="${PYTHON:-$(dirname "$hg")/python}"
out="$here/out"
export HF_HUB_OFFLINE=1
cd "$root"
"$hg" study run "$here/study.yaml" --out "$out"
"$py" "$here/shadow_run.py" --out "$out/shadow.json"
"$hg" report "$out" --out "$out/report.html" --shadow "$out/shadow.json"
