#!/usr/bin/env bash
# A Spark standalone cluster on loopback from the installed pyspark: one master, N workers.
# Usage: scripts/cluster.sh up [WORKERS] | down | status      (state in .cluster/: pids and logs)
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${PADAN_CLUSTER_DIR:-.cluster}
VENV=${VENV:-.venv}
# Absolute from here on: a relative folder is the checkout's, an absolute one stays as given (the
# workers' --work-dir was "$PWD/$STATE/..." before, which put a test's absolute cluster folder's
# work dirs, jars and executor logs inside the checkout, under ./tmp/..., and left them there).
case "$STATE" in /*) ;; *) STATE="$PWD/$STATE" ;; esac
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
SPARK_HOME=$("$VENV/bin/python" -c "import os, pyspark; print(os.path.dirname(pyspark.__file__))")
export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1 SPARK_MASTER_HOST=127.0.0.1
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$VENV/bin/python}
# The master and workers map the class archive `make setup` built (padan.spark.class_archive_options:
# same JVM, same class path as a local driver), when there is one.
CDS_OPTS=$("$VENV/bin/python" -c "from padan.spark import class_archive_options; print(class_archive_options())" 2>/dev/null || true)
export SPARK_DAEMON_JAVA_OPTS="${SPARK_DAEMON_JAVA_OPTS:-} $CDS_OPTS"
MASTER_PORT=${PADAN_MASTER_PORT:-7077}
MASTER_UI=${PADAN_MASTER_UI_PORT:-8080}
MASTER_URL="spark://127.0.0.1:$MASTER_PORT"
CLASS="$SPARK_HOME/bin/spark-class"

wait_for() {  # wait until a log file says it is ready, or the process died
  local pid=$1 log=$2 pattern=$3
  for _ in $(seq 1 120); do
    grep -q "$pattern" "$log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "cluster: process $pid died, see $log" >&2; tail -20 "$log" >&2; return 1; }
    sleep 0.5
  done
  echo "cluster: timed out waiting for '$pattern' in $log" >&2; return 1
}

up() {
  local workers=${1:-1}
  mkdir -p "$STATE"
  if [ -f "$STATE/master.pid" ] && kill -0 "$(cat "$STATE/master.pid")" 2>/dev/null; then
    echo "cluster already up at $MASTER_URL"; return 0
  fi
  nohup "$CLASS" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$MASTER_PORT" \
    --webui-port "$MASTER_UI" > "$STATE/master.log" 2>&1 &
  echo $! > "$STATE/master.pid"
  wait_for "$(cat "$STATE/master.pid")" "$STATE/master.log" "I have been elected leader"
  for i in $(seq 1 "$workers"); do
    nohup "$CLASS" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 1 --memory 3g \
      --webui-port $((MASTER_UI + i)) --work-dir "$STATE/work-$i" "$MASTER_URL" > "$STATE/worker-$i.log" 2>&1 &
    echo $! > "$STATE/worker-$i.pid"
    wait_for "$(cat "$STATE/worker-$i.pid")" "$STATE/worker-$i.log" "Successfully registered with master"
  done
  echo "$MASTER_URL" > "$STATE/master.url"
  echo "cluster up: $MASTER_URL with $workers worker(s)"
}

down() {
  [ -d "$STATE" ] || { echo "cluster not running"; return 0; }
  for f in "$STATE"/worker-*.pid "$STATE"/master.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  rm -f "$STATE/master.url"
  echo "cluster down"
}

case "${1:-}" in
  up) up "${2:-1}" ;;
  down) down ;;
  status) [ -f "$STATE/master.url" ] && echo "up: $(cat "$STATE/master.url")" || echo "down" ;;
  *) echo "usage: $0 up [WORKERS] | down | status" >&2; exit 2 ;;
esac
