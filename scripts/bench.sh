#!/usr/bin/env bash
# The benchmark of issue 6: hookbus against its baselines, interleaved, then the other figures.
# BENCHMARKS.md explains what each figure means and holds one run's tables.
#
#   scripts/bench.sh                   default run, a few minutes
#   scripts/bench.sh --rounds 9 --duration 10s --events 1000000 --profile    heavier
#
# Every round runs each variant (--variants) once (noop, naive, hookbus sync default, batch and always,
# hookbus without the dedupe index (dedupe_horizon: 0s), the raw-publish floor, and that
# floor with JetStream fast batches of 64), with the JetStream store on the real disk and on tmpfs (/dev/shm),
# in an order rotated from round to round; the report compares variants within a round and
# takes the median of the per-round ratios. Only loopback addresses are used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() {
  cat <<'EOF'
usage: scripts/bench.sh [flags]
  --rounds N         interleaved rounds, each running every variant once (default 5)
  --duration D       measured window of each load run (default 3s)
  --warmup D         load before the window (default 1s)
  --conns N          connections of the load generator (default 64)
  --body N           body bytes (default 1024)
  --stores LIST      comma-separated: disk,tmpfs (default both)
  --disk-dir DIR     parent of the on-disk stores (default ${TMPDIR:-/var/tmp})
  --events N         stored events for the start-up figure (default 100000; 1000000 takes minutes)
  --agent-events N   events one agent handles for its throughput (default 20000)
  --e2e-rate R       webhooks per second of the end-to-end run (default 200)
  --e2e-duration D   how long it sends (default 5s)
  --soak D           one long run of hookbus (sync default, tmpfs) with a timeline of
                     throughput, CPU per request and RSS (default 60s; 0 skips it)
  --variants LIST    comma-separated variants of the rounds (default all: noop, naive,
                     hookbus-default, hookbus-batch, hookbus-always, hookbus-nohorizon,
                     floor, floor-batch); fewer variants make a round shorter, so its
                     runs are closer in time and the per-round ratios less noisy
  --no-rounds        skip the interleaved comparison
  --no-extras        skip end-to-end, agent, replay and start-up figures
  --profile          also run hookbus in-process under load with CPU, block and mutex
                     profiles and print go tool pprof -top
  --out DIR          results directory (default ${TMPDIR:-/tmp}/hookbus-bench-<time>)
  --port-base N      HTTP on N, admin on N+1, NATS on N+2 (default 38080)
EOF
}

ROUNDS=5 DURATION=3s WARMUP=1s CONNS=64 BODY=1024 STORES=disk,tmpfs
ALL_VARIANTS=noop,naive,hookbus-default,hookbus-batch,hookbus-always,hookbus-nohorizon,floor,floor-batch
VARIANTS=$ALL_VARIANTS
DISK_PARENT=${TMPDIR:-/var/tmp}
EVENTS=100000 AGENT_EVENTS=20000 E2E_RATE=200 E2E_DURATION=5s SOAK=60s
DO_ROUNDS=1 DO_EXTRAS=1 DO_PROFILE=0 PORT_BASE=38080
OUT=${TMPDIR:-/tmp}/hookbus-bench-$(date +%Y%m%d-%H%M%S)
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --body) BODY=$2; shift ;;
    --stores) STORES=$2; shift ;;
    --variants) VARIANTS=$2; shift ;;
    --disk-dir) DISK_PARENT=$2; shift ;;
    --events) EVENTS=$2; shift ;;
    --agent-events) AGENT_EVENTS=$2; shift ;;
    --e2e-rate) E2E_RATE=$2; shift ;;
    --e2e-duration) E2E_DURATION=$2; shift ;;
    --soak) SOAK=$2; shift ;;
    --no-rounds) DO_ROUNDS=0 ;;
    --no-extras) DO_EXTRAS=0 ;;
    --profile) DO_PROFILE=1 ;;
    --out) OUT=$2; shift ;;
    --port-base) PORT_BASE=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown flag $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

for v in ${VARIANTS//,/ }; do
  case ,$ALL_VARIANTS, in
    *,$v,*) ;;
    *) echo "bench.sh: unknown variant $v (--variants takes: $ALL_VARIANTS)" >&2; exit 2 ;;
  esac
done
# selected VARIANT...: whether every one of the variants is among --variants.
selected() {
  local v
  for v; do
    case ,$VARIANTS, in *,$v,*) ;; *) return 1 ;; esac
  done
}

HTTP_ADDR=127.0.0.1:$PORT_BASE
ADMIN_ADDR=127.0.0.1:$((PORT_BASE + 1))
NATS_ADDR=127.0.0.1:$((PORT_BASE + 2))
NATS_URL=nats://$NATS_ADDR
RESULTS=$OUT/results.jsonl
BIN=$OUT/bin
LOGS=$OUT/logs
RUN_ID=$$
DISK_BASE=$DISK_PARENT/hookbus-bench-$RUN_ID
TMPFS_BASE=/dev/shm/hookbus-bench-$RUN_ID
export HOOKBUS_BENCH_SECRET=bench-secret-$RUN_ID
mkdir -p "$OUT" "$BIN" "$LOGS" "$DISK_BASE" "$TMPFS_BASE"
: >"$RESULTS"

SERVER_PID= STORE_DIR=
cleanup() {
  stop_server
  rm -rf "$DISK_BASE" "$TMPFS_BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# secs turns 3s / 500ms / 2m into whole seconds (rounded up), for timeouts.
secs() {
  local v=$1
  case $v in
    *ms) echo 1 ;;
    *s) echo "${v%s}" | awk '{print int($1 + 0.999)}' ;;
    *m) echo $(( ${v%m} * 60 )) ;;
    *) echo "$v" ;;
  esac
}
LOAD_TIMEOUT=$(( $(secs "$DURATION") + $(secs "$WARMUP") + 180 ))

# stop_server sends SIGTERM to the server this script started and waits at most 60s.
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 600); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "bench.sh: server $SERVER_PID ignored SIGTERM for 60s; killing it" >&2
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

store_dir() { # store_dir disk|tmpfs name
  case $1 in
    disk) echo "$DISK_BASE/$2" ;;
    tmpfs) echo "$TMPFS_BASE/$2" ;;
    *) echo "bench.sh: unknown store $1" >&2; exit 2 ;;
  esac
}

# hookbus_config DIR SYNC [DEDUPE_HORIZON]: the default config's github source, on
# the bench ports.
hookbus_config() {
  local file=$OUT/hookbus-$2-${3:-default}.yaml
  cat >"$file" <<EOF
log: {level: warn, format: json}
http: {listen: "$HTTP_ADDR"}
admin: {listen: "$ADMIN_ADDR"}
nats:
  embedded:
    listen: "$NATS_ADDR"
    store_dir: "$1"
    sync: $2
sources:
  github:
    verify: github
    secrets: ["\${HOOKBUS_BENCH_SECRET}"]
EOF
  [ -z "${3:-}" ] || echo "    dedupe_horizon: $3" >>"$file"
  echo "$file"
}

# start_server VARIANT STORE LOG: starts a server in the background on a fresh store (its
# directory in STORE_DIR), sets SERVER_PID and waits until it is ready.
start_server() {
  local variant=$1 store=$2 log=$3 dir= ready
  [ "$store" = - ] || dir=$(store_dir "$store" "$variant-$RANDOM")
  STORE_DIR=$dir
  case $variant in
    noop)
      "$BIN/hookbus-baseline" --mode noop --listen "$HTTP_ADDR" 2>"$log" &
      ready=http://$HTTP_ADDR/ ;;
    naive)
      "$BIN/hookbus-baseline" --mode naive --listen "$HTTP_ADDR" --store "$dir" --nats-listen "$NATS_ADDR" 2>"$log" &
      ready=http://$HTTP_ADDR/ ;;
    hookbus-default|hookbus-batch|hookbus-always)
      "$BIN/hookbus" serve --config "$(hookbus_config "$dir" "${variant#hookbus-}")" 2>"$log" &
      ready=http://$ADMIN_ADDR/readyz ;;
    hookbus-nohorizon) # sync default, de-duplicated by the stream's window alone
      "$BIN/hookbus" serve --config "$(hookbus_config "$dir" default 0s)" 2>"$log" &
      ready=http://$ADMIN_ADDR/readyz ;;
    *) echo "bench.sh: unknown variant $variant" >&2; exit 2 ;;
  esac
  SERVER_PID=$!
  if ! "$BIN/hookbus-bench" wait --url "$ready" --timeout 60s; then
    echo "bench.sh: $variant did not become ready; its log:" >&2
    tail -20 "$log" >&2
    stop_server
    return 1
  fi
}

# one_run VARIANT STORE ROUND: one measured run, appended to the results.
one_run() {
  local variant=$1 store=$2 round=$3 log nats=
  log=$LOGS/$variant-$store-$round.log
  local labels=(--label "variant=$variant" --label "round=$round")
  [ "$variant" = noop ] || labels+=(--label "store=$store")
  if [ "$variant" = floor ] || [ "$variant" = floor-batch ]; then
    local batch=0
    [ "$variant" = floor ] || batch=64
    STORE_DIR=$(store_dir "$store" "floor-$RANDOM")
    timeout "$LOAD_TIMEOUT" "$BIN/hookbus-bench" floor --json "${labels[@]}" --store "$STORE_DIR" \
      --body "$BODY" --inflight "$CONNS" --warmup "$WARMUP" --duration "$DURATION" --fast-batch "$batch" >>"$RESULTS" 2>>"$log" ||
      echo "# FAILED floor $store round $round (see $log)" >>"$RESULTS"
    rm -rf "$STORE_DIR"
    return 0
  fi
  start_server "$variant" "$store" "$log" || { echo "# FAILED $variant $store round $round: not ready" >>"$RESULTS"; rm -rf "$STORE_DIR"; return 0; }
  [ "$variant" = noop ] || nats=$NATS_URL
  timeout "$LOAD_TIMEOUT" "$BIN/hookbus-bench" load --json "${labels[@]}" --url "http://$HTTP_ADDR" --source github \
    --conns "$CONNS" --body "$BODY" --warmup "$WARMUP" --duration "$DURATION" --pid "$SERVER_PID" --nats "$nats" \
    >>"$RESULTS" 2>>"$log" || echo "# FAILED $variant $store round $round (see $log)" >>"$RESULTS"
  stop_server
  # A run's store is checked by then: drop it, so that stores on tmpfs (memory) do not pile
  # up over the rounds and squeeze the runs after them.
  [ -z "$STORE_DIR" ] || rm -rf "$STORE_DIR"
}

# cpu_ticks prints total and steal jiffies from /proc/stat.
cpu_ticks() { awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print t, $9}' /proc/stat; }

echo "== building into $BIN"
go build -o "$BIN/" ./bridge/cmd/hookbus ./bridge/cmd/hookbus-bench ./bridge/bench/cmd/hookbus-baseline

read -r T0 S0 < <(cpu_ticks)
BEGAN=$(date +%s)

IFS=, read -r -a STORE_LIST <<<"$STORES"
if [ "$DO_ROUNDS" = 1 ]; then
  RUNS=()
  ! selected noop || RUNS+=("noop -")
  for s in "${STORE_LIST[@]}"; do
    for v in ${ALL_VARIANTS//,/ }; do
      [ "$v" = noop ] || ! selected "$v" || RUNS+=("$v $s")
    done
  done
  n=${#RUNS[@]}
  for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round of $ROUNDS ($n runs of $WARMUP + $DURATION)"
    for i in $(seq 0 $((n - 1))); do
      read -r variant store <<<"${RUNS[$(( (i + round - 1) % n ))]}"
      printf '   %-16s %-6s ' "$variant" "$store"
      one_run "$variant" "$store" "$round"
      tail -1 "$RESULTS" | awk '{ if ($0 ~ /^#/) print $0; else { match($0, /"ok_per_s":[0-9.]+|"acked_per_s":[0-9.]+/); a=substr($0, RSTART, RLENGTH); match($0, /"cpu_per_ok_us":[0-9.]+|"cpu_per_msg_us":[0-9.]+/); print a, substr($0, RSTART, RLENGTH) } }'
    done
  done
fi

if [ "$DO_EXTRAS" = 1 ]; then
  echo "== end to end, agent throughput, replay (hookbus sync default, tmpfs store)"
  start_server hookbus-default tmpfs "$LOGS/extras.log"
  # The agents' own log (failed acks, retries) goes to agents.log.
  timeout 300 "$BIN/hookbus-bench" e2e --json --label store=tmpfs --url "http://$HTTP_ADDR" --nats "$NATS_URL" \
    --rate "$E2E_RATE" --duration "$E2E_DURATION" --body "$BODY" >>"$RESULTS" 2>>"$LOGS/agents.log" ||
    echo "# FAILED e2e (see $LOGS/agents.log)" >>"$RESULTS"
  for c in 1 64; do
    timeout 300 "$BIN/hookbus-bench" agent --json --label store=tmpfs --nats "$NATS_URL" --count "$AGENT_EVENTS" \
      --concurrency "$c" --body "$BODY" --pid "$SERVER_PID" >>"$RESULTS" 2>>"$LOGS/agents.log" ||
      echo "# FAILED agent concurrency $c (see $LOGS/agents.log)" >>"$RESULTS"
  done
  timeout 600 "$BIN/hookbus-bench" replay --json --label store=tmpfs --nats "$NATS_URL" --pid "$SERVER_PID" \
    >>"$RESULTS" || echo "# FAILED replay" >>"$RESULTS"
  stop_server

  echo "== start-up time (disk store): empty, then with $EVENTS stored events"
  dir=$(store_dir disk startup)
  cfg=$(hookbus_config "$dir" default)
  timeout 600 "$BIN/hookbus-bench" startup --json --label store=disk --label events=0 --runs 3 \
    --ready "http://$ADMIN_ADDR/readyz" --log "$LOGS/startup.log" -- "$BIN/hookbus" serve --config "$cfg" \
    >>"$RESULTS" || echo "# FAILED startup empty" >>"$RESULTS"
  "$BIN/hookbus" serve --config "$cfg" 2>>"$LOGS/startup.log" &
  SERVER_PID=$!
  "$BIN/hookbus-bench" wait --url "http://$ADMIN_ADDR/readyz" --timeout 60s
  timeout 3600 "$BIN/hookbus-bench" fill --json --label store=disk --nats "$NATS_URL" --count "$EVENTS" --body "$BODY" \
    >>"$RESULTS" || echo "# FAILED fill" >>"$RESULTS"
  stop_server
  timeout 1800 "$BIN/hookbus-bench" startup --json --label store=disk --label "events=$EVENTS" --runs 3 \
    --ready "http://$ADMIN_ADDR/readyz" --log "$LOGS/startup.log" -- "$BIN/hookbus" serve --config "$cfg" \
    >>"$RESULTS" || echo "# FAILED startup with $EVENTS events" >>"$RESULTS"
  rm -rf "$dir"
fi

if [ "$SOAK" != 0 ] && [ "$SOAK" != 0s ]; then
  echo "== soak: hookbus (sync default, tmpfs) for $SOAK"
  start_server hookbus-default tmpfs "$LOGS/soak.log"
  timeout $(( $(secs "$SOAK") + 600 )) "$BIN/hookbus-bench" load --url "http://$HTTP_ADDR" --conns "$CONNS" --body "$BODY" \
    --warmup "$WARMUP" --duration "$SOAK" --pid "$SERVER_PID" --nats "$NATS_URL" --timeline 10 | tee "$OUT/soak.txt" ||
    echo "soak FAILED (see $LOGS/soak.log)" | tee -a "$OUT/soak.txt"
  stop_server
fi

if [ "$DO_PROFILE" = 1 ]; then
  # Two loaded runs of the same bridge code (bridge.Run inside hookbus-bench serve): one with
  # the CPU and heap profiles alone, one with the block and mutex profiles, whose sampling
  # would otherwise show up in the CPU profile.
  for kind in cpu wait; do
    echo "== $kind profiles of hookbus (sync default, tmpfs) under load"
    dir=$(store_dir tmpfs "profile-$kind")
    cfg=$(hookbus_config "$dir" default)
    if [ $kind = cpu ]; then
      prof=(--cpuprofile "$OUT/cpu.pprof" --memprofile "$OUT/heap.pprof")
    else
      prof=(--blockprofile "$OUT/block.pprof" --mutexprofile "$OUT/mutex.pprof")
    fi
    "$BIN/hookbus-bench" serve --config "$cfg" "${prof[@]}" 2>"$LOGS/profile-$kind.log" &
    SERVER_PID=$!
    "$BIN/hookbus-bench" wait --url "http://$ADMIN_ADDR/readyz" --timeout 60s
    timeout "$LOAD_TIMEOUT" "$BIN/hookbus-bench" load --url "http://$HTTP_ADDR" --conns "$CONNS" --body "$BODY" \
      --warmup "$WARMUP" --duration "$DURATION" --pid "$SERVER_PID" --nats "$NATS_URL" | tee "$OUT/profile-$kind-load.txt"
    stop_server
    rm -rf "$dir"
  done
  top() { go tool pprof -top "$@" 2>/dev/null | sed '/^File:/d;/^Build ID:/d;/^Time:/d'; }
  top -nodecount=40 "$BIN/hookbus-bench" "$OUT/cpu.pprof" >"$OUT/cpu-top.txt" || true
  top -cum -nodecount=60 "$BIN/hookbus-bench" "$OUT/cpu.pprof" >"$OUT/cpu-cum.txt" || true
  top -sample_index=alloc_space -nodecount=30 "$BIN/hookbus-bench" "$OUT/heap.pprof" >"$OUT/alloc-top.txt" || true
  top -cum -nodecount=40 "$BIN/hookbus-bench" "$OUT/block.pprof" >"$OUT/block-top.txt" || true
  top -cum -nodecount=30 "$BIN/hookbus-bench" "$OUT/mutex.pprof" >"$OUT/mutex-top.txt" || true
  echo "-- CPU, flat (top 40; cumulative in $OUT/cpu-cum.txt)"
  cat "$OUT/cpu-top.txt"
  echo "-- block: where goroutines waited, cumulative ($OUT/block-top.txt)"
  head -35 "$OUT/block-top.txt"
  echo "-- mutex: contended locks, cumulative ($OUT/mutex-top.txt)"
  head -25 "$OUT/mutex-top.txt"
  echo "-- allocated bytes ($OUT/alloc-top.txt)"
  head -25 "$OUT/alloc-top.txt"
fi

read -r T1 S1 < <(cpu_ticks)
ENDED=$(date +%s)

PAIRS=()
FLOORS=()
[ "$DO_ROUNDS" = 1 ] || STORE_LIST=()
for s in "${STORE_LIST[@]}"; do
  for pair in noop,hookbus-default naive,hookbus-default hookbus-batch,hookbus-default hookbus-always,hookbus-default \
    floor,floor-batch hookbus-nohorizon,hookbus-default; do
    a=${pair%,*} b=${pair#*,} at=$s
    [ "$a" != noop ] || at=-
    ! selected "$a" "$b" || PAIRS+=(--pair "$a@$at,$b@$s")
  done
  for target in hookbus-default hookbus-nohorizon; do
    ! selected noop floor "$target" || FLOORS+=(--floor "noop@-,floor@$s,$target@$s")
  done
done

{
  echo "## hookbus benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM;" \
    "CPU steal during the run: $(awk -v t=$((T1 - T0)) -v s=$((S1 - S0)) 'BEGIN{ if (t > 0) printf "%.0f%%", 100*s/t; else print "n/a" }');" \
    "$(go version | awk '{print $3}'); $((ENDED - BEGAN)) s"
  echo
  echo "settings: $ROUNDS rounds, $CONNS connections, $BODY-byte bodies, $WARMUP warm-up + $DURATION measured per run;" \
    "CPU = server utime+stime (embedded NATS included) per 2xx answer; ratios are medians of per-round ratios"
  echo
  "$BIN/hookbus-bench" report "${PAIRS[@]}" "${FLOORS[@]}" "$RESULTS"
  if [ -s "$OUT/soak.txt" ]; then
    echo
    echo "### Soak: hookbus sync default, tmpfs, $SOAK"
    echo
    echo '```'
    cat "$OUT/soak.txt"
    echo '```'
  fi
} | tee "$OUT/report.md"
echo
echo "results: $RESULTS"
echo "report:  $OUT/report.md"
