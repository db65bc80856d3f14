#!/usr/bin/env bash
# Installs the Rampart .deb on this machine, checks what a system package
# must carry, removes it (only the conffile may stay) and purges it
# (nothing may stay). Root, Debian-family. CI runs it; by hand:
#
#     sudo dist/build-deb.sh && sudo dist/test-package.sh [target/debian/rampart_*.deb]
#
# It refuses to run where Rampart is installed or has state (it would
# remove them), and it never starts the service.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
ok() { echo "test-package: ok: $*"; }

deb=${1:-$(ls -t target/debian/rampart_*.deb 2>/dev/null | head -n 1)}
[ -n "$deb" ] && [ -f "$deb" ] || fail "no .deb (run dist/build-deb.sh)"
[ "$(id -u)" = 0 ] || fail "needs root (it installs the package)"
if dpkg-query -W -f='${Status}' rampart 2>/dev/null | grep -q 'installed\|config-files'; then
    fail "the rampart package is already on this machine; not touching it"
fi
for d in /etc/rampart /var/lib/rampart; do
    [ ! -e "$d" ] || fail "$d exists; not touching this machine's Rampart"
done
command -v man >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db >/dev/null; }
command -v nft >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; }

dpkg -i "$deb" >/dev/null
ok "dpkg -i $deb"
trap 'dpkg --purge rampart >/dev/null 2>&1 || true' EXIT

version=$(rampart --version)
echo "$version"
echo "$version" | grep -q '^commit [0-9a-f]\{12\}$\|^commit unknown$' || fail "--version names no commit"
echo "$version" | grep -q '^rule pack .*+[0-9a-f]\{8\} ([0-9]* rules)$' || fail "--version names no rule pack"
[ "$(command -v rampart)" = /usr/sbin/rampart ] || [ -x /usr/sbin/rampart ] || fail "/usr/sbin/rampart"
ok "rampart --version"

for page in rampart rampart-run rampart-import-csf rampart-config-check; do
    p=$(man -w "$page") || fail "man -w $page"
    [ "$p" = "/usr/share/man/man8/$page.8.gz" ] || fail "man -w $page: $p"
done
rendered=$(MANWIDTH=100 man rampart 2>/dev/null) || fail "man rampart"
grep -q 'rampart - Rampart: host firewall' <<<"$rendered" || fail "man rampart does not render"
ok "man pages (rampart(8) and one per subcommand: $(ls /usr/share/man/man8/rampart*.8.gz | wc -l))"

rampart config check /etc/rampart/rampart.toml
ok "the default configuration passes config check"

for f in /usr/share/bash-completion/completions/rampart \
         /usr/share/zsh/vendor-completions/_rampart \
         /usr/share/fish/vendor_completions.d/rampart.fish; do
    [ -s "$f" ] || fail "completion $f"
done
bash -c 'source /usr/share/bash-completion/completions/rampart && complete -p rampart' >/dev/null \
    || fail "the bash completion does not load"
ok "completions for bash, zsh and fish"

[ "$(stat -c %a /var/lib/rampart)" = 700 ] || fail "/var/lib/rampart is not 0700"
[ -f /usr/lib/systemd/system/rampart.service ] || [ -f /lib/systemd/system/rampart.service ] || fail "unit"
grep -q '^ExecStart=/usr/sbin/rampart run$' /usr/lib/systemd/system/rampart.service || fail "unit ExecStart"
grep -q '^Documentation=man:rampart(8)' /usr/lib/systemd/system/rampart.service || fail "unit Documentation"
ok "/var/lib/rampart 0700, systemd unit"

files=$(dpkg-query -L rampart)
dpkg -r rampart >/dev/null
left=()
while IFS= read -r f; do
    [ -f "$f" ] && left+=("$f")
done <<<"$files"
[ "${left[*]}" = /etc/rampart/rampart.toml ] || fail "dpkg -r left: ${left[*]:-nothing, not even the conffile}"
[ ! -e /var/lib/rampart ] || fail "dpkg -r left an empty /var/lib/rampart"
[ ! -e /usr/share/doc/rampart ] || fail "dpkg -r left /usr/share/doc/rampart"
dpkg-query -W -f='${Status}' rampart | grep -q 'config-files' || fail "not in config-files state after dpkg -r"
ok "dpkg -r leaves only the conffile"

dpkg --purge rampart >/dev/null
[ ! -e /etc/rampart ] || fail "dpkg --purge left /etc/rampart"
while IFS= read -r f; do
    [ ! -e "$f" ] || [ -d "$f" ] || fail "dpkg --purge left $f"
done <<<"$files"
! dpkg-query -W rampart >/dev/null 2>&1 || dpkg-query -W -f='${Status}' rampart | grep -q 'not-installed' || fail "still known to dpkg"
trap - EXIT
ok "dpkg --purge removes the conffile too"
echo "test-package: 7 passed, 0 failed"
