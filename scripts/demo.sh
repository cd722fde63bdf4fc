#!/usr/bin/env bash
# The seed scenario on one machine: starts the bridge (embedded NATS, store in a temporary
# directory) and the two example agents, sends one GitHub-signed issues webhook and the same
# delivery again, shows what the agents logged, and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
export GITHUB_WEBHOOK_SECRET=demo-github-secret
bin=$work/bin
mkdir -p "$bin"
go build -o "$bin/hookbus" ./bridge/cmd/hookbus
go build -o "$bin/triage" ./agents/examples/triage
go build -o "$bin/notify" ./agents/examples/notify

sed "s#store_dir: \"./data\"#store_dir: \"$work/data\"#" configs/hookbus.yaml > "$work/hookbus.yaml"
pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin/hookbus" serve --config "$work/hookbus.yaml" >"$work/bridge.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -fsS http://127.0.0.1:8081/readyz >/dev/null 2>&1 && break; sleep 0.1; done
"$bin/triage" --log-format console >"$work/triage.log" 2>&1 & pids+=($!)
"$bin/notify" --log-format console >"$work/notify.log" 2>&1 & pids+=($!)

body='{"action":"opened","issue":{"number":42,"title":"Checkout crashes on empty cart","html_url":"https://github.com/acme/shop/issues/42","labels":[{"name":"bug"}]},"repository":{"full_name":"acme/shop"}}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$GITHUB_WEBHOOK_SECRET" | sed 's/^.* //')
delivery="demo-$(date +%s%N)"
for attempt in first retry; do
  printf '%-6s → ' "$attempt"
  curl -sS -X POST http://127.0.0.1:8080/webhooks/github \
    -H 'Content-Type: application/json' -H 'X-GitHub-Event: issues' \
    -H "X-GitHub-Delivery: $delivery" -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body"
  echo
done
printf 'forged → '
curl -sS -X POST http://127.0.0.1:8080/webhooks/github \
  -H 'X-GitHub-Event: issues' -H "X-GitHub-Delivery: forged" -H "X-Hub-Signature-256: sha256=$sig" \
  --data-binary "${body/42/43}"
echo
sleep 2
echo "--- triage"; grep -v 'agent consuming' "$work/triage.log" || true
echo "--- notify"; grep -v 'agent consuming' "$work/notify.log" || true
