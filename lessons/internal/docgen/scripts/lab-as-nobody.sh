#!/bin/sh
# lab-as-nobody.sh PACKAGE [FLAG…]: what a lesson prints when an
# unprivileged user runs it, in its lab, for the excerpts docgen writes
# in docs/lab.md. Run from the repository's root, as root.
#
# It builds PACKAGE (./lessons/03) into a temporary directory and runs
# the binary there with FLAGs as the user nobody (uid and gid 65534, no
# other groups: no capability on this machine), stdin from /dev/null,
# and prints its stdout; its stderr goes to stderr. The directory is the
# working directory, and nobody may write to it (--pcap FILE). When a
# --pcap FILE was given, it then prints what tshark -r FILE counts and
# the file's owner and mode, as "FILE: N packets (tshark -r), owner
# nobody, mode 0600". It exits with the program's status.
set -eu

if [ "$#" -lt 1 ]; then
	echo "usage: lab-as-nobody.sh PACKAGE [FLAG…]" >&2
	exit 2
fi
pkg=$1
shift

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 1777 "$dir"
go build -o "$dir/prog" "$pkg"
cd "$dir"
status=0
setpriv --reuid=65534 --regid=65534 --clear-groups ./prog "$@" </dev/null || status=$?
pcap=
while [ "$#" -gt 0 ]; do
	case $1 in
	--pcap | -pcap) pcap=$2 ;;
	--pcap=* | -pcap=*) pcap=${1#*=} ;;
	esac
	shift
done
if [ -n "$pcap" ] && [ -f "$pcap" ]; then
	n=$(tshark -r "$pcap" 2>/dev/null | wc -l)
	echo "$pcap: $n packets (tshark -r), owner $(stat -c %U "$pcap"), mode $(stat -c %a "$pcap" | sed 's/^/0/')"
fi
exit "$status"
