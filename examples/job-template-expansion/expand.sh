#!/bin/sh
# Writes one Job manifest per item (ITEMS, default "apple banana cherry") from job-tmpl.yaml into JOBS_DIR
# (default ./jobs); then `kubectl create -f ./jobs` creates them.
set -eu
template="$(dirname "$0")/job-tmpl.yaml"
out="${JOBS_DIR:-jobs}"
mkdir -p "$out"
for item in ${ITEMS:-apple banana cherry}; do
  sed "s/\$ITEM/$item/g" "$template" > "$out/job-$item.yaml"
done
ls "$out"
