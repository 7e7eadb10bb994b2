#!/bin/sh
# SPDX-License-Identifier: MIT
# `make run`: start the daemons in the foreground on loopback, state in ./var/.
set -eu
cd "$(dirname "$0")/.."
mkdir -p var
umask 077
[ -s var/admin.token ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > var/admin.token
[ -s var/forward.secret ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > var/forward.secret
cat <<MSG
upgate (development)
  gateway:          http://127.0.0.1:8470   (config etc/gateway.dev.conf)
  admin token file: $(pwd)/var/admin.token
  database:         $(pwd)/var/gateway.db
  try:              curl http://127.0.0.1:8470/healthz
Stop with Ctrl-C.
MSG
exec bin/upgate-gatewayd -c etc/gateway.dev.conf
