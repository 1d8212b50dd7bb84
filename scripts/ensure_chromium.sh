#!/bin/sh
# Make sure Debian's chromium (and chromium-driver) are installed, for the browser test.
#
# The machine reaches only package registries, so playwright's own browser download
# cannot work; the test drives /usr/bin/chromium through playwright's
# executable_path instead. Idempotent: does nothing when chromium is already there.
#
# Usage: scripts/ensure_chromium.sh        (needs root, or sudo without a password)
set -eu

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    echo "chromium present: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
else
    echo "error: $CHROMIUM is missing and we are not root (install chromium and chromium-driver)" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $CHROMIUM is missing and apt-get is not available on this system" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core
if [ ! -x "$CHROMIUM" ]; then
    echo "error: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
