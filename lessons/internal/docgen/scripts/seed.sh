#!/bin/sh
# seed.sh [-json]: a run of the seed's server and client, for the
# excerpts docgen writes (README.md's DATA lines, docs/trace-format.md's
# hex write and /etc/hosts lookup). Run from the repository's root.
#
# It builds ./server and ./client into a temporary directory, starts the
# server on a port the kernel chooses, without capture, and waits for
# the line that names the port. Then nc sends it, on two connections, 10
# bytes that are not text and 3024 bytes of "a" (the server's first Read
# takes 1 KiB, and the second the 2000 bytes left, in the buffer it
# doubled); each nc half-closes after its message and waits for the
# server to close. The client then dials localhost, which /etc/hosts
# answers. The server is stopped with SIGINT. Printed: the server's
# stdout, then the client's (with -json, their traces as JSON lines; the
# seed's own lines then go to stderr, and are not printed).
set -eu

json=
if [ "${1:-}" = -json ]; then
	json=-json
fi

dir=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

go build -o "$dir/server" ./server
go build -o "$dir/client" ./client

"$dir/server" -addr 127.0.0.1:0 -capture=off $json >"$dir/server.out" 2>"$dir/server.err" &
pid=$!

# The server says where it listens on its seed line: on stdout, or with
# -json on stderr. Wait for it, 10 s at most.
seed="$dir/server.out"
if [ -n "$json" ]; then
	seed="$dir/server.err"
fi
tries=0
until grep -qs '^Server listening on ' "$seed"; do
	tries=$((tries + 1))
	if [ "$tries" -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "seed.sh: the server did not say where it listens" >&2
		cat "$dir/server.err" >&2
		exit 1
	fi
	sleep 0.05
done
port=$(sed -n 's/^Server listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$seed")

printf '\000\001\002\377binary' >"$dir/binary"
head -c 3024 /dev/zero | tr '\000' a >"$dir/long"
nc -N 127.0.0.1 "$port" <"$dir/binary" >/dev/null
nc -N 127.0.0.1 "$port" <"$dir/long" >/dev/null

"$dir/client" -addr "localhost:$port" -capture=off $json >"$dir/client.out" 2>"$dir/client.err"

kill -INT "$pid"
status=0
wait "$pid" || status=$?
pid=
if [ "$status" -ne 130 ]; then
	echo "seed.sh: the server exited with $status, not 130 (SIGINT)" >&2
	cat "$dir/server.err" >&2
	exit 1
fi

cat "$dir/server.out" "$dir/client.out"
