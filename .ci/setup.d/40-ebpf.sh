#!/usr/bin/env bash
# eBPF Go tracer: kernel headers for BCC, and the Go toolchains the tracer tests build their targets with.
#
# 1. BCC compiles its programs against /lib/modules/$(uname -r)/build. This kernel ships no headers of its
#    own, so link Debian's linux-headers-amd64 (the same two links Debian installs for its own kernel).
#    Uprobe programs only need the stable uapi headers and the pt_regs layout, so a different minor is fine.
# 2. Go toolchains from the Go module proxy's golang.org/toolchain modules, cached under ~/.cache/hodegos.
#    Debian's golang-go (1.19) and the machine's Go come from apt and the image.
set -euo pipefail
kernel="$(uname -r)"
target="/lib/modules/${kernel}"
if [ ! -e "${target}/build" ]; then
  debian_build="$(ls -d /lib/modules/*-amd64/build 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "${debian_build}" ]; then
    echo "ebpf: linux-headers-amd64 is not installed (see .ci/apt/ebpf.txt)" >&2
    exit 1
  fi
  debian_dir="$(dirname "${debian_build}")"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO mkdir -p "${target}"
  $SUDO ln -sfn "$(readlink -f "${debian_dir}/build")" "${target}/build"
  $SUDO ln -sfn "$(readlink -f "${debian_dir}/source")" "${target}/source"
  echo "ebpf: linked $(readlink -f "${debian_dir}/build") as ${target}/build"
fi

# Toolchains: keep in step with tests/ebpf/goversions.py (PROXY_TOOLCHAINS).
cache="${HODEGOS_CACHE:-$HOME/.cache/hodegos}/go-toolchains"
go_bin="$(command -v go || echo /usr/local/go/bin/go)"
for version in 1.21.13 1.23.12 1.25.14 1.27.4; do
  dir="${cache}/golang.org/toolchain@v0.0.1-go${version}.linux-amd64"
  [ -x "${dir}/bin/go" ] && continue
  if [ ! -e "${dir}/bin/go" ]; then
    echo "ebpf: fetching Go ${version} toolchain module"
    GOMODCACHE="${cache}" GOFLAGS=-modcacherw GOTOOLCHAIN=local \
      "${go_bin}" mod download golang.org/toolchain@v0.0.1-go${version}.linux-amd64
  fi
  # Module zips carry no file modes; the go command marks these executable when it switches toolchains.
  find "${dir}/bin" "${dir}/pkg/tool" -type f -exec chmod 0755 {} +
done
