#!/bin/sh
# lab-join.sh PACKAGE: a held lesson's lab joined from another
# terminal, for the excerpt docgen writes in docs/lab.md. Run from the
# repository's root, as root.
#
# It builds PACKAGE (./lessons/03) into a temporary directory and runs
# it as the user nobody with --hold --no-color --capture=off, stdin from
# /dev/null, and waits (50 ms at a time, 10 s at most) until it prints
# the commands for another terminal. It prints those lines, then, as
# nobody, as a learner in another terminal:
#
#   - the printed nc command, typed into with printf;
#   - ss -tln on the lesson's port, with the join command the lesson
#     printed at its start ("join the lab: …") in front, then the same
#     ss without it, on this machine's network;
#
# each after a line "$ " and the command. Then it stops the lesson
# (SIGINT, the learner's Ctrl-C).
set -eu

if [ "$#" -ne 1 ]; then
	echo "usage: lab-join.sh PACKAGE" >&2
	exit 2
fi
dir=$(mktemp -d)
lesson=
cleanup() {
	if [ -n "$lesson" ]; then
		kill "$lesson" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
chmod 755 "$dir"
go build -o "$dir/lesson" "$1"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# Not through nobody(): a function run in the background is a subshell,
# and $! would be the subshell's.
setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$dir/lesson" --hold --no-color --capture=off </dev/null >"$dir/out" 2>"$dir/err" &
lesson=$!
tries=0
until grep -qs "in another terminal: .* ss " "$dir/out"; do
	tries=$((tries + 1))
	if [ "$tries" -gt 200 ]; then
		echo "lab-join.sh: the lesson printed no commands for another terminal" >&2
		cat "$dir/out" "$dir/err" >&2
		exit 1
	fi
	sleep 0.05
done
port=$(sed -n "s/.*holding: the lesson's server listens on 127\.0\.0\.1:\([0-9]*\) until Ctrl-C.*/\1/p" "$dir/out")
join=$(sed -n 's/.*NOTE *join the lab: \(.*\)$/\1/p' "$dir/out")

grep -o "in another terminal: .*" "$dir/out"
nc=$(sed -n 's/.*in another terminal: \(.* nc .*\)$/\1/p' "$dir/out")
echo "\$ printf 'I am Chuck Norris!' | $nc"
printf 'I am Chuck Norris!' | nobody sh -c "$nc"
echo # the answer ends with no newline
echo "\$ $join ss -tln '( sport = :$port )'"
nobody sh -c "$join ss -tln '( sport = :$port )'"
echo "\$ ss -tln '( sport = :$port )'"
nobody ss -tln "( sport = :$port )"

kill -INT "$lesson"
wait "$lesson" || true
lesson=
