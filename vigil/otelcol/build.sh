#!/usr/bin/env bash
# Builds the test OpenTelemetry Collector described by manifest.yaml into
# ${LIFE_CACHE:-$HOME/.cache/life-go}/otelcol/build/otelcol-life.
# Idempotent: does nothing when the binary was built from this manifest.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${LIFE_CACHE:-$HOME/.cache/life-go}/otelcol"
builder_version="v0.150.0"
bin="$cache/build/otelcol-life"
stamp="$cache/build/.manifest.sha256"

mkdir -p "$cache"
want="$( (cat "$here/manifest.yaml"; echo "$builder_version") | sha256sum | cut -d' ' -f1)"
if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "otelcol: up to date: $bin"
  exit 0
fi

if [[ ! -x "$cache/bin/builder" ]]; then
  echo "otelcol: installing collector builder $builder_version"
  GOBIN="$cache/bin" GOFLAGS=-mod=mod go install "go.opentelemetry.io/collector/cmd/builder@$builder_version"
fi

echo "otelcol: building collector into $cache/build"
# output_path in the manifest is relative: build inside the cache dir, not the repo.
cd "$cache"
GOWORK=off "$cache/bin/builder" --config "$here/manifest.yaml"
echo "$want" > "$stamp"
echo "otelcol: built $bin"
