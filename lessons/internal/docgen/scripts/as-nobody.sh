#!/bin/sh
# as-nobody.sh PACKAGE [FLAG…]: what a program prints on stderr when an
# unprivileged user runs it, for the excerpts docgen writes
# (docs/capture.md, docs/reliability.md). Run from the repository's root,
# as root.
#
# It builds PACKAGE (./lessons/03) into a temporary directory and runs
# the binary there with FLAGs as the user nobody (uid and gid 65534, no
# other groups: no CAP_NET_RAW, no tracefs), stdin from /dev/null and
# stdout thrown away, and prints its stderr. The directory is the
# working directory, and nobody may write to it (a --pcap FILE). It
# exits with the program's status.
set -eu

if [ "$#" -lt 1 ]; then
	echo "usage: as-nobody.sh PACKAGE [FLAG…]" >&2
	exit 2
fi
pkg=$1
shift

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 1777 "$dir" # nobody may write its files there (--pcap)
go build -o "$dir/prog" "$pkg"
cd "$dir"
status=0
setpriv --reuid=65534 --regid=65534 --clear-groups ./prog "$@" </dev/null 2>"$dir/stderr" >/dev/null || status=$?
cat "$dir/stderr"
exit "$status"
