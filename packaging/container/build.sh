#!/usr/bin/env bash
# Builds the swiftgit container image from packaging/container/Containerfile with podman (or
# docker when podman is missing), from the repository's root as the context.
#   packaging/container/build.sh [TAG]        (default swiftgit:latest)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tag="${1:-swiftgit:latest}"
if command -v podman >/dev/null 2>&1; then
    engine=podman
elif command -v docker >/dev/null 2>&1; then
    engine=docker
else
    echo "build.sh: neither podman nor docker is installed" >&2
    exit 1
fi
exec "$engine" build --file "$root/packaging/container/Containerfile" --tag "$tag" "$root"
