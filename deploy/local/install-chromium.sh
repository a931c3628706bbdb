#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/browser) if it is missing.
# The tests drive /usr/bin/chromium with Playwright; Playwright's own browser downloads are never used.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_=sudo
echo "== apt-get install chromium =="
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends chromium
/usr/bin/chromium --version
