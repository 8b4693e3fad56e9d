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
