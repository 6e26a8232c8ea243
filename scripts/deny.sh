#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (pinned, cached in .tools/) against deny.toml:
# licences, bans (wildcard requirements; duplicate versions are listed as warnings) and
# sources, then advisories and yanked crates when the RustSec database can be fetched (it is
# cloned from GitHub, which some machines, this project's CI among them, cannot reach: then the
# script says so and the other checks still decide).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/cargo-tool.sh"
deny="$(cargo_tool cargo-deny 0.20.2)"
cd "$repo"
"$deny" check --hide-inclusion-graph licenses bans sources
if "$deny" fetch db > /dev/null 2>&1; then
    "$deny" check --hide-inclusion-graph advisories
else
    echo "deny: advisories not checked: the RustSec database (github.com/RustSec/advisory-db) cannot be fetched from this machine" >&2
fi
