#!/bin/sh
# hold-three-nc.sh: lesson 07's first Try this, for the excerpt docgen
# writes in docs/lessons/07.md: what the held lesson's ss commands show
# on the port of the server that --hold keeps (LimitListener, 2
# connections at a time) while three nc sessions are connected to it.
# Run from the repository's root.
#
# It builds ./lessons/07 into a temporary directory and runs it with
# --hold --no-color --capture=off, and waits until it has printed its
# commands for another terminal ("in another terminal: …", ready to
# paste: each program joined to the lesson's lab). Then it runs the
# first, nc 127.0.0.1 PORT, three times, each reading from a fifo, as a
# learner pastes it into three terminals and types there: the first
# sends "one", and the script waits until nc prints the server's answer;
# the second the same with "two"; the third sends "three" and gets no
# answer, since both slots are taken. The script runs the third command
# (ss -ltn) and the second (ss -tn '( sport = :PORT )') every 50 ms until
# the listener's Recv-Q is 1 and a connection on the port holds the 6
# bytes of "three\n", and prints what they print, in that order.
#
# Then it stops the nc sessions and the lesson (SIGINT, the learner's
# Ctrl-C). Each wait gives up after 10 s.
set -eu

dir=$(mktemp -d)
lesson= nc1= nc2= nc3=
cleanup() {
	for pid in $nc1 $nc2 $nc3 $lesson; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT

go build -o "$dir/lesson" ./lessons/07
"$dir/lesson" --hold --no-color --capture=off </dev/null >"$dir/out" 2>"$dir/err" &
lesson=$!

# wait_for CMD…: run CMD every 50 ms until it succeeds, 10 s at most.
wait_for() {
	tries=0
	until "$@"; do
		tries=$((tries + 1))
		if [ "$tries" -gt 200 ]; then
			echo "hold-three-nc.sh: gave up waiting for: $*" >&2
			cat "$dir/err" >&2
			exit 1
		fi
		sleep 0.05
	done
}
printed() { [ "$(grep -c 'in another terminal: ' "$dir/out")" -ge 4 ]; }
# nth N: the lesson's Nth command for another terminal, as printed.
nth() { sed -n 's/.*in another terminal: //p' "$dir/out" | sed -n "$1p"; }
answered() { grep -qs "You said \"$2" "$dir/nc$1.out"; }
waiting() {
	sh -c "$listener" | awk 'NR > 1 && $2 == 1 { found = 1 } END { exit !found }' &&
		sh -c "$conns" | awk 'NR > 1 && $2 == 6 { found = 1 } END { exit !found }'
}

wait_for printed
nc=$(nth 1) conns=$(nth 2) listener=$(nth 3)

# Each nc reads what the learner types from a fifo, kept open here
# (file descriptors 4, 5 and 6) so that nc does not see the end of its
# input. The shell execs the pasted command, so that its pid is nc's.
for i in 1 2 3; do
	mkfifo "$dir/nc$i.in"
	: >"$dir/nc$i.out"
done
sh -c "exec $nc" <"$dir/nc1.in" >"$dir/nc1.out" &
nc1=$!
exec 4>"$dir/nc1.in"
printf 'one\n' >&4
wait_for answered 1 one
sh -c "exec $nc" <"$dir/nc2.in" >"$dir/nc2.out" &
nc2=$!
exec 5>"$dir/nc2.in"
printf 'two\n' >&5
wait_for answered 2 two
sh -c "exec $nc" <"$dir/nc3.in" >"$dir/nc3.out" &
nc3=$!
exec 6>"$dir/nc3.in"
printf 'three\n' >&6
wait_for waiting

sh -c "$listener"
sh -c "$conns"

if [ -s "$dir/nc3.out" ]; then
	echo "hold-three-nc.sh: the third nc heard an answer before a slot freed" >&2
	exit 1
fi
kill "$nc1" "$nc2" "$nc3"
nc1= nc2= nc3=
kill -INT "$lesson"
wait "$lesson" || true
lesson=
