#!/bin/bash
# fresh-root.sh [REV] — the honest test of the README: make a minimal Debian 12 root (mmdebstrap
# --variant=minbase bookworm, from Debian's packages, made anew every run: nothing is cached that could
# hide an install step), put a clean clone of REV (default HEAD) in it, and run, inside it, as root, from
# the clone's top, in order and exactly as the README writes them, the commands of its ```sh ci blocks
# (scripts/readme-commands.sh lists them): building and installing the .deb, the installed sysdiag on the
# bundled example, ./scripts/example.sh, ./scripts/test.sh.
# Only these come from the host: Go (bind-mounted read-only at /usr/local/go), the CA bundle (so a TLS
# proxy the host trusts works for the Go module proxy), and git in the root (a user who cloned has it).
#
# How the root is entered, and why (FACTS.md, measured):
#   - its own mount namespace, the root bind-mounted onto itself and pivot_root'ed into: the test bed's
#     `unshare --propagation` needs the root to be a real mount point;
#   - the host's PID namespace: auditd sets the audit pid from the initial one;
#   - the host's /run: the kernel runs the core-pattern helper in the host's namespaces from the host's root,
#     and that helper hands the coredump to the journald socket under the host's /run. So the host needs
#     systemd-coredump installed too (this script installs it, with mmdebstrap, on the host).
# Needs root. Leaves nothing behind but what it installed on the host (mmdebstrap, systemd-coredump).
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-HEAD}
[ "$(id -u)" = 0 ] || { echo "fresh-root: needs root (it makes a root with mmdebstrap and mounts into it)" >&2; exit 1; }
goroot=$(PATH=$PATH:/usr/local/go/bin go env GOROOT 2>/dev/null) || { echo "fresh-root: no Go on the host" >&2; exit 1; }
ca=/etc/ssl/certs/ca-certificates.crt

need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[ -x /lib/systemd/systemd-coredump ] || need+=(systemd-coredump)
if [ ${#need[@]} -gt 0 ]; then
  echo "fresh-root: installing on the host: ${need[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d /var/tmp/sysdiag-fresh-root.XXXXXX)
# Installing systemd-coredump inside the root runs its postinst, which applies 50-coredump.conf: the core
# pattern is the kernel's, global, so it is put back as it was.
core_pattern=$(cat /proc/sys/kernel/core_pattern)
cleanup() {
  printf '%s\n' "$core_pattern" > /proc/sys/kernel/core_pattern || true
  # The mounts lived in the child's mount namespace only; --one-file-system never crosses one anyway.
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
root=$work/root

t0=$(date +%s)
echo "== fresh-root: mmdebstrap --variant=minbase bookworm (+git)"
mmdebstrap --quiet --variant=minbase --include=git bookworm "$root" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
echo "fresh-root: root made in $(( $(date +%s) - t0 )) s"

git clone -q --no-local --no-hardlinks . "$root/work/sysdiag"
git -C "$root/work/sysdiag" checkout -q --detach "$(git rev-parse "$rev")"
echo "fresh-root: clean clone of $(git rev-parse --short "$rev") at /work/sysdiag"
mkdir -p "$root/usr/local/go" "$root/etc/ssl/certs"
[ -f "$root$ca" ] || : > "$root$ca"

cat > "$work/enter.sh" <<EOF
#!/bin/bash
# Runs in a new mount namespace: mount the root, pivot into it, run the README's commands.
set -euo pipefail
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount --rbind /run "$root/run"
mount --bind "$goroot" "$root/usr/local/go" && mount -o remount,bind,ro "$root/usr/local/go"
mount --bind "$ca" "$root$ca" && mount -o remount,bind,ro "$root$ca"
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
cd /work/sysdiag
exec env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb LANG=C.UTF-8 \
  CI="${CI:-}" FUZZTIME="${FUZZTIME:-}" SSL_CERT_FILE=$ca GOPROXY="$(PATH=$PATH:$goroot/bin go env GOPROXY)" \
  bash -c 'set -e
    ./scripts/readme-commands.sh > /tmp/readme-commands
    while IFS= read -r cmd; do echo "\$ \$cmd"; bash -ec "\$cmd" < /dev/null; done < /tmp/readme-commands'
EOF
chmod +x "$work/enter.sh"
echo "== fresh-root: the README's commands, inside the root"
rc=0
unshare --mount --propagation private -- "$work/enter.sh" || rc=$?
echo "fresh-root: done in $(( $(date +%s) - t0 )) s, exit $rc"
exit $rc
