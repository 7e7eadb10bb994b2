#!/bin/sh
# SPDX-License-Identifier: MIT
# `make run`: start both daemons in the foreground on loopback, state in
# ./var/, alert emails as .eml files in ./var/mail. Ctrl-C stops both.
set -eu
cd "$(dirname "$0")/.."
mkdir -p var
umask 077
[ -s var/admin.token ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > var/admin.token
[ -s var/forward.secret ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > var/forward.secret
cat <<MSG
upgate (development)
  gateway:          http://127.0.0.1:8470   (config etc/gateway.dev.conf)
  mgmt:             http://127.0.0.1:8471   (config etc/mgmt.dev.conf)
  admin token file: $(pwd)/var/admin.token
  databases:        $(pwd)/var/gateway.db, $(pwd)/var/mgmt.db
  alert emails:     $(pwd)/var/mail/*.eml
  try:              curl http://127.0.0.1:8470/healthz
                    UPGATE_TOKEN_FILE=var/admin.token bin/upgatectl releases
Stop with Ctrl-C.
MSG
bin/upgate-mgmtd -c etc/mgmt.dev.conf &
mgmt=$!
bin/upgate-gatewayd -c etc/gateway.dev.conf &
gw=$!
stop() { kill -TERM "$gw" "$mgmt" 2>/dev/null || true; }
trap stop INT TERM
# Either one exiting stops the other.
while kill -0 "$gw" 2>/dev/null && kill -0 "$mgmt" 2>/dev/null; do
	sleep 1 &
	wait $! || true
done
stop
wait "$gw" 2>/dev/null || true
wait "$mgmt" 2>/dev/null || true
