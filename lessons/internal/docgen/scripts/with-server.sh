#!/bin/sh
# with-server.sh [-debian-hosts] [-flags "SERVER FLAGS"] COMMAND…: a
# lesson's "Try this" that runs go run ./server and then something
# against it, for the excerpts docgen writes (docs/lessons/01.md's
# ss -ltn lines, docs/lessons/03.md's client dialing localhost). Run
# from the repository's root, as root.
#
# It builds ./server and ./client into a temporary directory, which it
# puts first on PATH (so COMMAND can say "client -addr localhost:6969"),
# and runs both in a network namespace of its own with only loopback,
# up: port 6969 is free there, as the Try this expects, and ss sees no
# other socket. With -debian-hosts, /etc/hosts is the file Debian
# installs (localhost is 127.0.0.1 and ::1), in a mount namespace of
# its own: the machine's /etc/hosts stays as it is.
#
# The server runs with SERVER FLAGS (split on spaces; the default
# address is 127.0.0.1:6969) and -capture=off; its own output is not
# printed. COMMAND runs once the server has said where it listens (10 s
# at most), with stdin from /dev/null. Printed: COMMAND's stdout (its
# stderr goes to stderr). Then the server is stopped with SIGINT, and
# the script exits with COMMAND's status.
set -eu

if [ "${WITH_SERVER_DIR:-}" = "" ]; then
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
	go build -o "$dir/server" ./server
	go build -o "$dir/client" ./client
	status=0
	WITH_SERVER_DIR=$dir unshare --net --mount --propagation private sh "$0" "$@" || status=$?
	exit "$status"
fi

# Inside the namespaces.
dir=$WITH_SERVER_DIR
PATH=$dir:$PATH
export PATH
ip link set lo up
if [ "${1:-}" = -debian-hosts ]; then
	shift
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' >"$dir/hosts"
	mount --bind "$dir/hosts" /etc/hosts
fi
flags=
if [ "${1:-}" = -flags ]; then
	flags=$2
	shift 2
fi
if [ "$#" -eq 0 ]; then
	echo "usage: with-server.sh [-debian-hosts] [-flags \"SERVER FLAGS\"] COMMAND…" >&2
	exit 2
fi

# shellcheck disable=SC2086 # the flags are split on spaces
server $flags -capture=off -no-color >"$dir/server.out" 2>"$dir/server.err" &
pid=$!
tries=0
until grep -qs '^Server listening on ' "$dir/server.out"; do
	tries=$((tries + 1))
	if [ "$tries" -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "with-server.sh: the server did not say where it listens" >&2
		cat "$dir/server.err" >&2
		kill "$pid" 2>/dev/null || true
		exit 1
	fi
	sleep 0.05
done

status=0
"$@" </dev/null || status=$?

kill -INT "$pid"
wait "$pid" || true
exit "$status"
