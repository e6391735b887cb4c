#!/usr/bin/env bash
# Makes (once) and prints the path of the foreign root filesystem that
# tests/bundle_rootfs_integration_test runs the agent bundle in: Debian 11
# bullseye, `debootstrap --variant=minbase --include=python3` (Python 3.9,
# glibc 2.31: older than the host's, so the bundle must bring its own).
#
#   make_rootfs.sh        exit 0: the rootfs is ready, its path on stdout
#                         exit 3: it cannot be made here (not root, no
#                                 debootstrap, the archive is unreachable);
#                                 the reason on stderr
#
# Cached in /var/cache/tether/rootfs, outside the checkout and at a fixed
# path: Bazel gives tests their own HOME and no XDG_CACHE_HOME, and
# tools/setup (which makes it, so tests do not download) runs as the same
# root. Built in a temporary dir and renamed when complete, with a stamp
# naming the recipe, so a killed debootstrap never leaves a half cache.
set -euo pipefail
# Bazel's test PATH has no sbin; debootstrap and what it runs live there.
export PATH=$PATH:/usr/sbin:/sbin

suite=bullseye
recipe="debootstrap --variant=minbase --include=python3 $suite"
cache=/var/cache/tether/rootfs
dest=$cache/$suite-python3
stamp=.tether-rootfs-recipe

cannot() {
  echo "cannot make the $suite rootfs: $*" >&2
  exit 3
}

if [ -f "$dest/$stamp" ] && [ "$(cat "$dest/$stamp")" = "$recipe" ]; then
  echo "$dest"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || cannot "debootstrap needs root"
command -v debootstrap >/dev/null ||
  cannot "debootstrap is not installed (tools/setup installs it)"

# The Debian mirror the host's apt uses (deb.debian.org or a local proxy
# such as apt-cacher-ng): the entry for the host's own release.
host_mirror() {
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  # One-line .list entries: deb [options] URI SUITE COMPONENTS...
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -E 's/\[[^]]*\]//' |
    awk -v s="$codename" '$1 == "deb" && $3 == s {print $2; exit}'
  # deb822 .sources stanzas: the first URI of one whose Suites has it.
  cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk -v s="$codename" '
      /^[ \t]*$/ { if (hit && uri != "") { print uri; exit } hit = 0; uri = ""; next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
      END { if (hit && uri != "") print uri }'
}
mirror=$(host_mirror | head -n1)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

# debootstrap's wget reads the proxy from the environment, apt from its
# configuration: pass apt's on.
eval "$(apt-config shell http_proxy Acquire::http::Proxy)"
[ -z "${http_proxy:-}" ] || export http_proxy

# bullseye will move to archive.debian.org after its LTS ends (2026): then
# this says so and the test skips until the suite above follows.
wget -q -T 20 -t 2 -O /dev/null "$mirror/dists/$suite/Release" ||
  cannot "$mirror/dists/$suite/Release is unreachable"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -w 1200 9 || cannot "another make_rootfs.sh holds $cache/.lock"
if [ -f "$dest/$stamp" ] && [ "$(cat "$dest/$stamp")" = "$recipe" ]; then
  echo "$dest"  # made while we waited for the lock
  exit 0
fi

# A killed run leaves its temporary dir, maybe with debootstrap's /proc
# still mounted in it: unmount, and never cross into another file system.
for old in "$cache"/.tmp.*; do
  [ -d "$old" ] || continue
  findmnt -rn -o TARGET | grep -F "$old/" | sort -r | xargs -r -n1 umount -l
  rm -rf --one-file-system "$old"
done

tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
echo "make_rootfs: $recipe from $mirror (a few minutes, once)" >&2
if ! debootstrap --variant=minbase --include=python3 "$suite" "$tmp/root" \
    "$mirror" >"$tmp/debootstrap.log" 2>&1; then
  tail -n 5 "$tmp/debootstrap.log" >&2
  rm -rf --one-file-system "$tmp"
  echo "debootstrap failed" >&2
  exit 1
fi
rm -f "$tmp"/root/var/cache/apt/archives/*.deb
echo "$recipe" >"$tmp/root/$stamp"
if [ -e "$dest" ]; then
  mv "$dest" "$tmp/stale"  # an older recipe's
fi
mv "$tmp/root" "$dest"
rm -rf --one-file-system "$tmp"
echo "$dest"
