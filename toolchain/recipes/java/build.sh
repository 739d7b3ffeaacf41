#!/usr/bin/env bash
# Build the Java agent image tree into OUTDIR (the image root):
#   OUTDIR/autoinstrumentation/javaagent.jar   io.opentelemetry.javaagent:opentelemetry-javaagent (pom.xml)
# Maven resolves the pinned artifact (checksums enforced); the jar's SHA-256 must then match
# javaagent.jar.sha256, so a changed upstream artifact fails the build instead of shipping.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUTDIR}"
dest="$out/autoinstrumentation"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mvn -B -q -Dstyle.color=never --strict-checksums -f "$here/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$work" -Dmdep.stripVersion=true -DexcludeTransitive=true \
  -DincludeArtifactIds=opentelemetry-javaagent
mkdir -p "$dest"
cp "$work/opentelemetry-javaagent.jar" "$dest/javaagent.jar"
(cd "$dest" && sha256sum --check --quiet "$here/javaagent.jar.sha256")
chmod -R go+rX "$dest"
