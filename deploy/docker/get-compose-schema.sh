#!/usr/bin/env bash
# Print the path of the Compose Specification JSON schema, fetched once from the npm registry:
# the package dclint (a Compose linter) ships it as schemas/compose.schema.json. The tarball is
# pinned by version and checked against its sha512 before use; the extracted schema is cached
# outside git ($CRMFLOW_CACHE_DIR/compose-spec/, default ~/.cache/crmflow). Needs npm.
set -euo pipefail

PACKAGE=dclint
VERSION=3.1.0
# sha512 of the tarball (the registry's dist.integrity, in hex)
SHA512=69f4c67734455172b8c82a488845bf2ce47ef5338c10384d95d0e9e7a5425b39fb243983e39d4f7148bae3418694c1e06c7289d74ac3066e0fb697016e3aa55f

# shellcheck source=deploy/local/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/../local/env.sh"   # CRMFLOW_CACHE_DIR
cache=$CRMFLOW_CACHE_DIR
schema="$cache/compose-spec/$PACKAGE-$VERSION/compose.schema.json"

if [ ! -s "$schema" ]; then
    command -v npm >/dev/null || { echo "get-compose-schema: npm is not installed (apt-get install npm)" >&2; exit 1; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "get-compose-schema: npm pack $PACKAGE@$VERSION ..." >&2
    tgz=$(cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" | tail -n 1)
    got=$(sha512sum "$tmp/$tgz" | cut -d" " -f1)
    if [ "$got" != "$SHA512" ]; then
        echo "get-compose-schema: sha512 of $tgz is $got, expected $SHA512" >&2
        exit 1
    fi
    tar -xzf "$tmp/$tgz" -C "$tmp" package/schemas/compose.schema.json
    mkdir -p "$(dirname "$schema")"
    mv "$tmp/package/schemas/compose.schema.json" "$schema"
fi
printf '%s\n' "$schema"
