#!/bin/sh
# after.sh PACKAGE CMD [ARG…]: what CMD (ss, say) prints right after a
# lesson has run on this machine's loopback (--host), with the port of
# the lesson's last listener for PORT in its arguments, as a Try this
# says "right after go run ./lessons/05 --host, with the server's port
# from the last step", for the excerpts docgen writes
# (docs/lessons/05.md). Run from the repository's root.
#
# It builds PACKAGE (./lessons/05) into a temporary directory and runs
# it with --host --no-color --capture=off, stdin from /dev/null: on the
# host, not in a lab of its own, whose sockets would go with it. The
# port is the one in the last line where the lesson's server closes its
# listener ("server     CLOSE      listener 127.0.0.1:PORT"). Then it runs CMD
# with each PORT in its ARGs replaced by that port, and prints CMD's
# stdout; it exits with CMD's status.
set -eu

if [ "$#" -lt 2 ]; then
	echo "usage: after.sh PACKAGE CMD [ARG…]" >&2
	exit 2
fi
pkg=$1
shift

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/lesson" "$pkg"
"$dir/lesson" --host --no-color --capture=off </dev/null >"$dir/stdout"
port=$(sed -n 's/.* server  *CLOSE  *listener [0-9.]*:\([0-9][0-9]*\)$/\1/p' "$dir/stdout" | tail -n 1)
if [ -z "$port" ]; then
	echo "after.sh: the lesson closed no listener" >&2
	exit 1
fi

cmd=$1
shift
for arg in "$@"; do
	set -- "$@" "$(printf '%s' "$arg" | sed "s/PORT/$port/g")"
	shift
done
# Not exec: the trap removes the lesson's directory once CMD is done.
"$cmd" "$@"
