#!/bin/sh
# without-tracefs.sh PACKAGE [FLAG…]: what a program prints on stderr
# when root runs it where tracefs is not mounted, for the excerpt docgen
# writes in docs/reliability.md. Run from the repository's root, as root.
#
# It builds PACKAGE (./lessons/03) into a temporary directory and runs
# the binary with FLAGs in a mount namespace of its own, with private
# propagation, where /sys/kernel/tracing is unmounted: the unmount is
# seen by that process alone, and the machine's tracefs stays mounted.
# Stdin is /dev/null and stdout is thrown away; it prints the program's
# stderr and exits with its status.
set -eu

if [ "$#" -lt 1 ]; then
	echo "usage: without-tracefs.sh PACKAGE [FLAG…]" >&2
	exit 2
fi
pkg=$1
shift

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/prog" "$pkg"
status=0
unshare --mount --propagation private sh -c '
	if mountpoint -q /sys/kernel/tracing; then
		umount /sys/kernel/tracing
	fi
	exec "$@"' sh "$dir/prog" "$@" </dev/null 2>"$dir/stderr" >/dev/null || status=$?
cat "$dir/stderr"
exit "$status"
