#!/bin/sh
# serverbench-floor.sh [ROUNDS]: how close to the untraced server a
# traced server can come, for docs/performance.md. Run it from inside
# the repository, as its owner (git refuses another user's); as root it
# measures the capturing servers too, as another user it skips them.
#
# It clones the committed tree (HEAD: changes not committed are left
# out) into a temporary directory and runs tracer/serverbench there
# four times (-only untraced,traced,captured,untraced+tcpdump, ROUNDS
# rounds, 4 by default), cutting one more part of the trace's work
# before each run:
#
#	as-is       the tree as committed
#	no-tcpinfo  no TCP_INFO read at the events (Options.TCPInfo false)
#	no-states   and no kernel states: no sock_diag question, no tracepoint
#	no-print    and no JSON: the printer returns at once
#
# The last server still wraps every call, makes every event, holds and
# orders them at each flush, writes the seed's lines (CONNECTED, DATA,
# CLOSED) to stderr, captures (when permitted), annotates the packets
# and writes the pcapng file; it writes no trace. Each cut is a small
# edit of the clone, checked to have applied. Each run's report is
# printed whole, under a line naming the cut. Run it under the lock the
# machine's other measurements take (flock /tmp/tcptour-measure.lock).
set -eu

rounds=${1:-4}
root=$(git rev-parse --show-toplevel)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
git clone -q "$root" "$dir/tree"
cd "$dir/tree"

# cut NAME FILE SED: edits FILE with SED, and fails when nothing changed
# (the code moved on: the cut must be written again).
cut() {
	cp "$2" "$dir/before"
	sed -i "$3" "$2"
	if cmp -s "$2" "$dir/before"; then
		echo "serverbench-floor.sh: the cut $1 no longer applies to $2: update the script" >&2
		exit 1
	fi
}

run() {
	echo "=== $1: $(git diff --shortstat)"
	go run ./tracer/serverbench -only untraced,traced,captured,untraced+tcpdump -rounds "$rounds"
	echo
}

run as-is
cut no-tcpinfo tracer/wire/timeline.go 's/History: cfg.History, TCPInfo: true})/History: cfg.History, TCPInfo: false})/'
run no-tcpinfo
cut no-states tracer/wire/timeline.go 's/^\ttl.states, noStates = StartStates(tl.trace, cfg.Mode != ModeOff)$/&\n\ttl.states.Close()\n\ttl.states = nil/'
run no-states
cut no-print tracer/print.go 's/^func (p \*jsonPrinter) PrintBatch(events \[\]Event) error {$/&\n\treturn nil/'
run no-print
