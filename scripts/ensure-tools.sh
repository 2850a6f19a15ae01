#!/usr/bin/env bash
# System tools the test suite needs beyond Python packages: headless Chromium (the scorecard report is
# checked in a real browser). Installed from Debian's packages when missing.
set -u
SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  echo "ensure-tools: installing chromium from Debian's packages" >&2
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
    || { echo "ensure-tools: could not install chromium" >&2; exit 1; }
fi
echo "ensure-tools: $(chromium --version 2>/dev/null || chromium-browser --version)" >&2
