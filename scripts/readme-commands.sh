#!/bin/bash
# readme-commands.sh [README] — the commands a fresh machine runs, in order, exactly as README.md shows
# them: every line of its ```sh ci fenced blocks. scripts/fresh-root.sh (and so CI) runs these and
# nothing else, so a README that drifts from the scripts fails CI.
set -euo pipefail
readme=${1:-README.md}
cmds=$(awk '/^```sh ci[[:space:]]*$/ {on=1; next} /^```/ {on=0} on && NF' "$readme")
[ -n "$cmds" ] || { echo "readme-commands: no \`\`\`sh ci block in $readme" >&2; exit 1; }
printf '%s\n' "$cmds"
