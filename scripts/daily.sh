#!/usr/bin/env bash
# padan's daily run for cron: every pending batch through the increment job, in order, then the
# report (python -m padan.schedule run). flock keeps runs from overlapping: while one runs, a second
# exits 0 at once, saying so.
#
#   0 2 * * *  cd /opt/padan && PADAN_LANDING=/data/landing scripts/daily.sh >> /var/log/padan/daily.log 2>&1
#
# Environment: PADAN_LANDING (required), PADAN_SOURCES, PADAN_STATE_DIR, PADAN_READY_MARKER,
# PADAN_INCREMENT_CMD (default: padan increment), PADAN_REPORT_CMD (default: padan report),
# PADAN_RETRIES (default 2), PADAN_RETRY_DELAY (seconds, default 600), PADAN_LOCK (default
# /tmp/padan-daily.lock), PADAN_PYTHON (default .venv/bin/python). Exit status: 0 done, else the
# failed job's exit status with one message.
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${PADAN_LOCK:-/tmp/padan-daily.lock}"
exec 9>"$lock"
if ! flock -n 9; then
  echo "padan daily: another run is already running (lock $lock); nothing to do" >&2
  exit 0
fi
py="${PADAN_PYTHON:-.venv/bin/python}"
PATH="$(cd "$(dirname "$py")" && pwd):$PATH"   # `padan` from the same environment
export PATH
exec "$py" -m padan.schedule run --retries "${PADAN_RETRIES:-2}" --retry-delay "${PADAN_RETRY_DELAY:-600}"
