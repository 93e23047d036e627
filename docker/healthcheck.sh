#!/usr/bin/env bash
# tartan-healthcheck SERVICE [METRICS_PORT]: exit 0 iff the local service reports SERVING.
# For Docker/compose healthchecks (Kubernetes uses its native gRPC probe instead). It reads the
# lifecycle gauge tartan_<service>_lifecycle_state (0 STARTING, 1 LOADING, 2 SERVING,
# 3 DRAINING) from GET /metrics over bash's /dev/tcp, so the image needs no curl or
# grpc_health_probe. SERVICE: encoder, indexer or router.
set -euo pipefail
service=${1:?usage: tartan-healthcheck encoder|indexer|router [metrics_port]}
case "$service" in
  router) default_port=9100 ;;
  encoder) default_port=9101 ;;
  indexer) default_port=9102 ;;
  *) echo "tartan-healthcheck: unknown service '$service'" >&2; exit 2 ;;
esac
port=${2:-${TARTAN_METRICS_PORT:-$default_port}}
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
if grep -Eq "^tartan_${service}_lifecycle_state(\{[^}]*\})? 2(\.0+)?\s*$" <&3; then
  exit 0
fi
echo "tartan-healthcheck: ${service} on :${port} is not SERVING" >&2
exit 1
