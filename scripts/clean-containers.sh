#!/usr/bin/env bash
# Removes containers left behind by earlier test runs (all carry the label
# log-capturer-test=1). Run before a test run, never during one.
set -euo pipefail
ids=$(docker ps -aq --filter label=log-capturer-test=1)
[ -z "$ids" ] || docker rm -f $ids >/dev/null
