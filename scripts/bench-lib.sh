# bench-lib.sh — sourced by the bench scripts: t LABEL CMD… prints CMD's wall seconds and max RSS (GNU
# time), with its output counted (lines and bytes) so that nothing short-circuits (grep > /dev/null stops
# at the first match).
t() {
  local label=$1; shift
  local tmp; tmp=$(mktemp)
  /usr/bin/time -o "$tmp" -f "%e %M" "$@" > "$tmp.out" 2>/dev/null || true
  printf '%-60s %6ss  %8s KiB max RSS  %7s lines  %9s bytes\n' "$label" $(tail -1 "$tmp") "$(wc -l < "$tmp.out")" "$(wc -c < "$tmp.out")"
  rm -f "$tmp" "$tmp.out"
}

# bench_setup builds sysdiag into bin/, makes the realistic audit log $LOG ($SIZE, default 1 GiB) unless it
# exists, and warms the page cache with it.
bench_setup() {
  LOG=${LOG:-/tmp/sysdiag-bench-audit.log}
  SIZE=${SIZE:-1GiB}
  go build -o bin/sysdiag ./cmd/sysdiag
  [ -f "$LOG" ] || go run ./internal/auditgen/mkauditlog -size "$SIZE" -o "$LOG"
  cat "$LOG" > /dev/null
  echo "input: $LOG ($(du -h "$LOG" | cut -f1)), $(nproc) cores"
}
