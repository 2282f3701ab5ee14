#!/bin/sh
# Puts the work items (ITEMS, default ten fruits) in the Redis list `job2` on 127.0.0.1:REDIS_PORT (default 6379).
set -eu
port="${REDIS_PORT:-6379}"
# shellcheck disable=SC2086
redis-cli -h 127.0.0.1 -p "$port" RPUSH job2 ${ITEMS:-apple banana cherry date fig grape lemon melon orange plum} >/dev/null
