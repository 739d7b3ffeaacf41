#!/bin/sh
# Test "app" for the .NET contract (no .NET runtime here): checks, inside the container, that every path the
# injected env points at exists, and prints each as PATH-OK <var> <path>. Exits 1 on the first missing one.
check() {
  [ -e "$2" ] || { echo "PATH-MISSING $1 $2"; exit 1; }
  echo "PATH-OK $1 $2"
}
check CORECLR_PROFILER_PATH "$CORECLR_PROFILER_PATH"
check OTEL_DOTNET_AUTO_HOME "$OTEL_DOTNET_AUTO_HOME"
for var in DOTNET_STARTUP_HOOKS DOTNET_ADDITIONAL_DEPS DOTNET_SHARED_STORE; do
  eval "value=\$$var"
  old_ifs="$IFS"; IFS=:
  for part in $value; do
    IFS="$old_ifs"
    case "$part" in "$OTEL_DOTNET_AUTO_HOME"/*) check "$var" "$part" ;; *) echo "USER-VALUE $var $part" ;; esac
  done
  IFS="$old_ifs"
done
echo PROBE-DONE
