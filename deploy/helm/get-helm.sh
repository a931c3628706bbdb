#!/usr/bin/env bash
# Print the path of a pinned helm binary, building it from the Go module proxy when missing
# (no prebuilt binaries are downloaded). The binary is cached outside git, shared by all clones:
#   $CRMFLOW_CACHE_DIR/bin/helm-<version>   (default ~/.cache/crmflow/bin)
# Needs Go >= 1.24 on PATH. Progress goes to stderr; stdout is only the path.
set -euo pipefail

HELM_VERSION=${CRMFLOW_HELM_VERSION:-v3.22.0}
# shellcheck source=deploy/local/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/../local/env.sh"   # CRMFLOW_CACHE_DIR
cache=$CRMFLOW_CACHE_DIR
bin="$cache/bin/helm-$HELM_VERSION"

if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { echo "get-helm: go is not installed (apt-get install golang-go, or Go >= 1.24)" >&2; exit 1; }
    echo "get-helm: building helm $HELM_VERSION with 'go install' (once; a few minutes) ..." >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # The version string `helm version` prints comes from these ldflags.
    GOBIN="$tmp" CGO_ENABLED=0 go install \
        -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
    mkdir -p "$(dirname "$bin")"
    mv "$tmp/helm" "$bin"
fi
printf '%s\n' "$bin"
