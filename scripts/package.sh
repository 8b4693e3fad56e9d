#!/bin/bash
# package.sh [OUTDIR] — build sysdiag_VERSION_ARCH.deb (default OUTDIR: dist/) with Debian's own
# dpkg-deb: the tools every Debian machine has (dpkg-shlibdeps for Depends:), no packager to install,
# and a .deb that is exactly the tree staged here. Reproducible from a clean clone: the build is
# -trimpath with the commit's VCS stamp, every file's mtime is the commit's time (SOURCE_DATE_EPOCH,
# which dpkg-deb also uses), owners are root, the man pages and changelog are gzip -n.
# The version is the changelog's (internal/dist/changelog).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh --build >&2 # a fresh machine has no gcc or -dev packages: the README's first command must work
umask 022
out=$(realpath -m "${1:-dist}")
version=$(sed -n '1s/^sysdiag (\([^)]*\)).*/\1/p' internal/dist/changelog)
arch=$(dpkg --print-architecture)
if git rev-parse --git-dir >/dev/null 2>&1; then
  export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
  vcs=-buildvcs=true
else
  export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d "$(sed -n 's/^ -- .*>  //p' internal/dist/changelog)" +%s)}
  vcs=-buildvcs=false
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/pkg
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/man/man8" "$pkg/usr/share/doc/sysdiag" "$pkg/usr/lib/systemd/system" \
  "$pkg/usr/share/bash-completion/completions" "$pkg/usr/share/zsh/vendor-completions" "$pkg/usr/share/fish/vendor_completions.d"

CGO_ENABLED=1 go build "$vcs" -trimpath -ldflags "-X main.release=$version" -o "$pkg/usr/bin/sysdiag" ./cmd/sysdiag
bin=$pkg/usr/bin/sysdiag
"$bin" gen-man "$stage/man" internal/dist/changelog
for p in "$stage"/man/*.8; do gzip -9n < "$p" > "$pkg/usr/share/man/man8/$(basename "$p").gz"; done
"$bin" completion bash > "$pkg/usr/share/bash-completion/completions/sysdiag"
"$bin" completion zsh > "$pkg/usr/share/zsh/vendor-completions/_sysdiag"
"$bin" completion fish > "$pkg/usr/share/fish/vendor_completions.d/sysdiag.fish"
sed -e 's|/usr/local/bin/sysdiag|/usr/bin/sysdiag|' \
    -e 's|^# (journalctl -u sysdiag-watch -o cat). Install sysdiag to /usr/local/bin, copy this file to$|# (journalctl -u sysdiag-watch -o cat). Installed by the sysdiag package, not enabled:|' \
    -e 's|^# /etc/systemd/system/, then: systemctl daemon-reload \&\& systemctl enable --now sysdiag-watch.service$|# systemctl enable --now sysdiag-watch.service|' \
    internal/dist/sysdiag-watch.service > "$pkg/usr/lib/systemd/system/sysdiag-watch.service"
cp internal/dist/copyright "$pkg/usr/share/doc/sysdiag/copyright"
gzip -9n < internal/dist/changelog > "$pkg/usr/share/doc/sysdiag/changelog.Debian.gz"
install -m 0755 internal/dist/deb/postinst internal/dist/deb/prerm internal/dist/deb/postrm "$pkg/DEBIAN/"

# Depends: from the libraries the binary links (run-time packages, never -dev).
mkdir -p "$stage/debian"
printf 'Source: sysdiag\n\nPackage: sysdiag\nArchitecture: any\n' > "$stage/debian/control"
depends=$(cd "$stage" && dpkg-shlibdeps -O pkg/usr/bin/sysdiag 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package: dpkg-shlibdeps found no Depends" >&2; exit 1; }
# go-systemd's sdjournal dlopen()s libsystemd.so.0: no DT_NEEDED names it, so it is added here.
depends="$depends, libsystemd0"
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: sysdiag
Version: $version
Architecture: $arch
Maintainer: sysdiag developers <sysdiag@users.noreply.github.com>
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: $depends
Section: admin
Priority: optional
Homepage: https://github.com/sysdiag/sysdiag
Description: why a systemd service was killed by its seccomp filter, and what to change
 sysdiag tells an administrator why a systemd unit died with status=31/SYS or
 failed with a bare "Operation not permitted" under SystemCallFilter= and
 ProtectClock= & co.: the call, its @groups for the unit's systemd version, the
 line that blocked it, and the smallest verified drop-in. It follows
 violations live (watch; the packaged sysdiag-watch.service, not enabled),
 sweeps a failed deploy (postmortem), runs a unit once in logging mode
 (trial) and predicts kills from a unit's programs before it runs (check).
CONTROL
find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -type f ! -path '*/DEBIAN/p*' ! -path '*/usr/bin/*' -exec chmod 0644 {} +
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb=$out/sysdiag_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
