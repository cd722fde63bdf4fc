#!/usr/bin/env bash
# A real 3-node NATS JetStream cluster on loopback plus two hookbus bridges on it
# (configs/cluster.yaml, streams with 3 replicas), for trying hookbus on a cluster by hand:
# send webhooks to either bridge, stop a NATS node and watch the bridges carry on, stop two
# and watch them answer 503 until one comes back. Ctrl-C stops everything.
#
#   scripts/cluster.sh                 (state in a temporary directory, removed at the end)
#   CLUSTER_DIR=/tmp/hb scripts/cluster.sh   (state kept there, reused by the next run)
#   PORT_OFFSET=10000 scripts/cluster.sh     (every port below moved up by 10000)
#
# nats-server is built from the module hookbus already depends on (the version in go.mod);
# nothing is downloaded beyond the Go modules.
#
# Ports: NATS clients 4222-4224, cluster routes 6222-6224, NATS monitoring 8222-8224,
# bridge 1 on 8080 (admin 8081), bridge 2 on 8090 (admin 8091).
set -euo pipefail
cd "$(dirname "$0")/.."
o=${PORT_OFFSET:-0}

if [ -n "${CLUSTER_DIR:-}" ]; then
  work=$CLUSTER_DIR
  mkdir -p "$work"
  keep=1
else
  work=$(mktemp -d)
  keep=0
fi
bin=$work/bin
mkdir -p "$bin"
echo "building nats-server and hookbus into $bin"
go build -o "$bin/nats-server" github.com/nats-io/nats-server/v2
go build -o "$bin/hookbus" ./bridge/cmd/hookbus

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping bridges and NATS nodes"
  # Bridges first (they drain their in-flight requests), then the cluster.
  for pid in "${bridge_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${bridge_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # A node restarted by hand (the command printed below) wrote its new pid into its file.
  for n in 1 2 3; do
    pid=$(cat "$work/n$n.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -q nats-server "/proc/$pid/cmdline" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$keep" = 0 ]; then rm -rf "$work"; else echo "state kept in $work"; fi
}
bridge_pids=()
trap cleanup INT TERM EXIT

routes="nats://127.0.0.1:$((o + 6222)),nats://127.0.0.1:$((o + 6223)),nats://127.0.0.1:$((o + 6224))"
urls="nats://127.0.0.1:$((o + 4222)),nats://127.0.0.1:$((o + 4223)),nats://127.0.0.1:$((o + 4224))"

# node N writes its config and starts nats-server N (1, 2 or 3) in the background.
node() {
  local n=$1
  cat >"$work/n$n.conf" <<EOF
server_name: n$n
listen: 127.0.0.1:$((o + 4221 + n))
http: 127.0.0.1:$((o + 8221 + n))
jetstream { store_dir: "$work/n$n" }
cluster {
  name: hookbus
  listen: 127.0.0.1:$((o + 6221 + n))
  routes: [$routes]
}
EOF
  "$bin/nats-server" -c "$work/n$n.conf" >"$work/n$n.log" 2>&1 &
  pids+=($!)
  echo $! >"$work/n$n.pid"
}

wait_http() { # URL WHAT
  for _ in $(seq 300); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$2 did not become ready; its log:" >&2
  return 1
}

for n in 1 2 3; do node "$n"; done
# /healthz answers 200 once the node is part of a cluster with a JetStream meta leader: a
# bridge started before then would wait out a whole request timeout to create its streams.
for n in 1 2 3; do
  wait_http "http://127.0.0.1:$((o + 8221 + n))/healthz" "NATS node n$n" || { tail -20 "$work/n$n.log" >&2; exit 1; }
done

# bridge N HTTP ADMIN starts a bridge on configs/cluster.yaml with its own ports.
bridge() {
  HOOKBUS_HTTP_LISTEN=127.0.0.1:$2 HOOKBUS_ADMIN_LISTEN=127.0.0.1:$3 HOOKBUS_NATS_URL=$urls \
    HOOKBUS_DEDUPE_DIR="$work/horizon$1" \
    "$bin/hookbus" serve --config configs/cluster.yaml >"$work/bridge$1.log" 2>&1 &
  bridge_pids+=($!)
}
# One after the other: the first creates the streams and buckets (replicas 3), the second
# finds them. (Two bridges creating them at the same moment on a fresh cluster each wait
# out a request timeout per stream before they get going.)
for b in "1 $((o + 8080)) $((o + 8081))" "2 $((o + 8090)) $((o + 8091))"; do
  set -- $b
  bridge "$1" "$2" "$3"
  wait_http "http://127.0.0.1:$3/readyz" "bridge $1" || { tail -20 "$work/bridge$1.log" >&2; exit 1; }
done

cat <<EOF

hookbus on a 3-node JetStream cluster (streams and buckets with 3 replicas)

  bridge 1   http://127.0.0.1:$((o + 8080))/webhooks/{source}   admin http://127.0.0.1:$((o + 8081))/ (console, /readyz, /metrics)
  bridge 2   http://127.0.0.1:$((o + 8090))/webhooks/{source}   admin http://127.0.0.1:$((o + 8091))/
  NATS       $urls
             monitoring http://127.0.0.1:$((o + 8222))/jsz  :$((o + 8223))  :$((o + 8224))
  logs       $work/{n1,n2,n3,bridge1,bridge2}.log

Send the same delivery to both bridges; the second answer says "duplicate":true:

  body='{"lead":"ada"}'
  sig=\$(printf '%s' "\$body" | openssl dgst -sha256 -hmac dev-only-secret | sed 's/^.* //')
  for port in $((o + 8080)) $((o + 8090)); do
    curl -sS -X POST http://127.0.0.1:\$port/webhooks/demo -H "X-Signature: sha256=\$sig" \\
      -H 'X-Delivery-Id: try-1' --data-binary "\$body"; echo
  done

Stop a node (the streams keep a quorum: the bridges carry on):   kill \$(cat $work/n2.pid)
Stop a second one (no quorum: the bridges answer 503):           kill \$(cat $work/n3.pid)
Start it again (same store and ports; the quorum is back):
  $bin/nats-server -c $work/n2.conf >>$work/n2.log 2>&1 & echo \$! >$work/n2.pid

Ctrl-C stops everything.
EOF
wait "${bridge_pids[@]}"
