#!/bin/sh
# lab-time.sh [PAIRS [CAPTURE]]: how long a lesson takes to enter its
# lab, for docs/performance.md. Run from the repository's root, as root
# (it times the lab as root and as the user nobody).
#
# It builds ./lessons/03 into a temporary directory and runs it PAIRS
# times (40 by default) in each of two ways, alternating: in its lab
# (the default) and on the host's loopback (--host), both with
# --capture=off (so that both do the same work: as nobody only the lab
# may capture), --no-color, stdin from /dev/null and stdout thrown away.
# With CAPTURE "on", both capture (--capture=on), as root only: as
# nobody only the lab may capture.
# Each run is timed from the shell (date +%s%N), start to exit. For each
# user it prints the median run in the lab and on the host, and the
# difference within each pair (lab minus host, the run after it):
# median, and the 10th and 90th percentiles. Alternating keeps a slow
# spell of the machine from landing on one side only.
set -eu

pairs=${1:-40}
capture=${2:-off}
users="root nobody"
[ "$capture" = off ] || users=root
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
go build -o "$dir/lesson" ./lessons/03
cd "$dir"

# pct P FILE: the P-th percentile of FILE's sorted lines.
pct() {
	n=$(wc -l <"$2")
	i=$(( (n * $1 + 99) / 100 ))
	[ "$i" -ge 1 ] || i=1
	sed -n "${i}p" "$2"
}
# ms FILE: FILE's values (nanoseconds) in milliseconds, as
# "median ms (p10 … ms, p90 … ms)".
ms() {
	sort -n "$1" >"$1.sorted"
	awk -v a="$(pct 50 "$1.sorted")" -v b="$(pct 10 "$1.sorted")" -v c="$(pct 90 "$1.sorted")" \
		'BEGIN { printf "%.1f ms (p10 %.1f ms, p90 %.1f ms)", a/1e6, b/1e6, c/1e6 }'
}

for user in $users; do
	as=
	[ "$user" = nobody ] && as="setpriv --reuid=65534 --regid=65534 --clear-groups"
	: >lab; : >host; : >diff
	i=0
	while [ "$i" -lt "$pairs" ]; do
		t0=$(date +%s%N)
		$as ./lesson --no-color --capture="$capture" </dev/null >/dev/null
		t1=$(date +%s%N)
		$as ./lesson --no-color --capture="$capture" --host </dev/null >/dev/null
		t2=$(date +%s%N)
		echo $((t1 - t0)) >>lab
		echo $((t2 - t1)) >>host
		echo $(((t1 - t0) - (t2 - t1))) >>diff
		i=$((i + 1))
	done
	echo "as $user, $pairs pairs of runs of lesson 03 (--capture=$capture):"
	echo "  in the lab:          $(ms lab)"
	echo "  on the host:         $(ms host)"
	echo "  lab minus host:      $(ms diff)"
done
