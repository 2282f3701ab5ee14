#!/bin/sh
# Declares the durable queue `job1` on the RabbitMQ broker at BROKER_URL (default
# amqp://guest:guest@127.0.0.1:5672) and publishes one persistent message per item.
set -eu
url="${BROKER_URL:-amqp://guest:guest@127.0.0.1:5672}"
amqp-declare-queue --url="$url" -d -q job1 >/dev/null
for item in ${ITEMS:-apple banana cherry date fig grape lemon melon}; do
  amqp-publish --url="$url" -r job1 -p -b "$item"
done
