#!/usr/bin/env bash
# Removes containers left behind by test processes that are gone. Every test
# container carries the label log-capturer-test=1 and a name starting
# `lct-<pid>-`, the pid of the test process that made it; containers of a
# process still alive are left alone.
set -euo pipefail
docker ps -a --filter label=log-capturer-test=1 --format '{{.ID}} {{.Names}}' |
while read -r id name; do
    pid=${name#lct-}
    pid=${pid%%-*}
    case "$pid" in ''|*[!0-9]*) pid=0 ;; esac
    if [ "$pid" = 0 ] || ! kill -0 "$pid" 2>/dev/null; then
        docker rm -f "$id" >/dev/null
    fi
done
