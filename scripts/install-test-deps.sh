#!/usr/bin/env bash
# Installs, from Debian's packages, what the test suite needs besides Node (run as root).
# The tests never skip: without these they fail and name this script's packages.
set -euo pipefail
need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl) # test certificates for the mTLS tests
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus) # promtool, for scripts/check-deploy.sh
# A non-Node gRPC client for the interop test (Debian's python3, not a pyenv one on PATH).
/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1 || need_apt+=(python3-grpcio)
# The Python client (clients/python): the protobuf runtime, and grpc_tools.protoc (with the
# well-known types) that generates its stubs from proto/.
/usr/bin/python3 -c 'import google.protobuf' >/dev/null 2>&1 || need_apt+=(python3-protobuf)
/usr/bin/python3 -c 'import grpc_tools.protoc' >/dev/null 2>&1 || need_apt+=(python3-grpc-tools)
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
