#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build OpenTofu (a Terraform-compatible CLI) from its Go module, for the
# Terraform provider's acceptance tests (terraform/, tests/test_terraform.py).
#
# The result is cached in ${MSB_CACHE:-~/.cache/microsandbox}/opentofu-VERSION/tofu,
# so it is built once per machine: the build takes many minutes on 2 cores
# (too long for the test run itself, which only finds it). Prints its path.
#
#   scripts/build-opentofu.sh [VERSION]     default v1.12.6
set -eu
version=${1:-v1.12.6}
cache=${MSB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microsandbox}
out=$cache/opentofu-$version
if [ -x "$out/tofu" ]; then
	echo "$out/tofu"
	exit 0
fi
go=$(command -v go || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } || true)
if [ -z "$go" ]; then
	echo "build-opentofu: no Go toolchain" >&2
	exit 1
fi
"$go" mod download github.com/opentofu/opentofu@"$version" >&2
src=$("$go" env GOMODCACHE)/github.com/opentofu/opentofu@$version
mkdir -p "$out"
# The module's own go.mod has replace directives, so `go install
# module@version` refuses it: build inside the module instead.
(cd "$src" && GOFLAGS=-buildvcs=false nice -n 5 "$go" build -trimpath -o "$out/tofu.tmp" ./cmd/tofu) >&2
mv "$out/tofu.tmp" "$out/tofu"
echo "$out/tofu"
