#!/usr/bin/env bash
# A container health check without curl in the image: GET http://127.0.0.1:<port><path>, healthy on 200.
# Usage: container-health <port> <path>
exec 3<>"/dev/tcp/127.0.0.1/${1:?port}" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "${2:?path}" >&3
IFS= read -r status <&3
[[ "$status" == *" 200 "* ]]
