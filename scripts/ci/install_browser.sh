#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the browser tests (tests/browser/).
# Idempotent: does nothing when `chromium` is already on PATH. Uses sudo only when
# not root. Playwright's own browser download is not used (it does not work on the
# project machines); the tests launch /usr/bin/chromium through `executable_path`.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: chromium is missing and this user is not root and has no sudo;" \
             "install the Debian package 'chromium' by hand" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
command -v chromium
chromium --version || true
