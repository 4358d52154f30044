#!/bin/sh
# pause-before-step4.sh [-keepalive]: lesson 05 as a learner runs its
# Try this on a terminal, pausing before step 4 until the kernel has
# dropped the client's socket in FIN_WAIT_2, for the excerpts docgen
# writes in docs/lessons/05.md. Run from the repository's root, as root.
#
# It builds ./lessons/05 into a temporary directory and runs it with
# --step --no-color --host in a network namespace of its own (unshare
# --net, loopback up), where net.ipv4.tcp_fin_timeout, which the kernel
# keeps per namespace, is 2 s instead of 60, so that the pause lasts
# seconds, not a minute. (--host: in a lab of its own the lesson would
# have the kernel's default.) The lesson's standard input is a
# pseudo-terminal (script(1)), as on a learner's terminal, and this
# script presses Enter there at each "[press Enter for step N …]" prompt
# on its stderr. At the prompt for step 4 it first asks ss, every 50 ms, until
# no socket is left in FIN-WAIT-2: the client's, which no program holds,
# dropped after tcp_fin_timeout. With -keepalive it asks instead until
# no socket is left in CLOSE-WAIT: the server's, which its program
# holds, reset when its first keepalive probe (Go's default: after 15 s
# idle) met the client's kernel, which no longer has a socket for it.
# Each wait gives up after 60 s.
#
# Printed: the lesson's stdout. It exits with the lesson's status.
set -eu

wait_state=fin-wait-2
if [ "${1:-}" = -keepalive ]; then
	wait_state=close-wait
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/lesson" ./lessons/05

unshare --net sh -c '
	set -eu
	dir=$1 wait_state=$2
	ip link set lo up
	echo 2 >/proc/sys/net/ipv4/tcp_fin_timeout

	# script(1) gives the lesson a pseudo-terminal as its stdin and
	# copies what it reads from the fifo there: the Enter key.
	mkfifo "$dir/keys"
	script -q -e -c "exec \"$dir/lesson\" --step --no-color --host >\"$dir/stdout\" 2>\"$dir/stderr\"" /dev/null <"$dir/keys" >/dev/null &
	pid=$!
	exec 3>"$dir/keys"

	# wait_for CMD…: run CMD every 50 ms until it succeeds, 60 s at
	# most; fail at once if the lesson has exited.
	wait_for() {
		tries=0
		until "$@"; do
			tries=$((tries + 1))
			if [ "$tries" -gt 1200 ]; then
				echo "pause-before-step4.sh: gave up waiting for: $*" >&2
				return 1
			fi
			sleep 0.05
		done
	}
	prompts() { grep -o "press Enter for step" "$dir/stderr" 2>/dev/null | wc -l; }
	prompted() { [ "$(prompts)" -ge "$1" ] || ! kill -0 "$pid" 2>/dev/null; }
	none_in() { [ -z "$(ss -Htan state "$1")" ]; }

	step=1
	while kill -0 "$pid" 2>/dev/null; do
		wait_for prompted "$step"
		if [ "$(prompts)" -lt "$step" ]; then
			break # the lesson ended
		fi
		if [ "$step" -eq 4 ]; then
			wait_for none_in "$wait_state"
		fi
		printf "\n" >&3
		step=$((step + 1))
	done
	exec 3>&-
	status=0
	wait "$pid" || status=$?
	if [ "$status" -ne 0 ]; then
		cat "$dir/stderr" >&2
		exit "$status"
	fi
	cat "$dir/stdout"
' sh "$dir" "$wait_state"
