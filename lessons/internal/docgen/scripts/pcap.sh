#!/bin/sh
# pcap.sh PACKAGE [TSHARK-ARG…]: what tshark says about the packets a
# lesson captured, for the excerpts docgen writes (docs/lessons/06.md,
# 07.md, 08.md). Run from the repository's root, as root (the capture).
#
# It builds PACKAGE (./lessons/06) into a temporary directory, runs it
# with --no-color --pcap FILE, stdin from /dev/null and its stdout thrown
# away, then prints what tshark -r FILE TSHARK-ARGs prints (its stderr,
# where tshark warns that it runs as root, is thrown away). It exits with
# the lesson's status, or else with tshark's.
set -eu

if [ "$#" -lt 1 ]; then
	echo "usage: pcap.sh PACKAGE [TSHARK-ARG…]" >&2
	exit 2
fi
pkg=$1
shift

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/lesson" "$pkg"
"$dir/lesson" --no-color --pcap "$dir/lesson.pcapng" </dev/null >/dev/null
tshark -r "$dir/lesson.pcapng" "$@" 2>/dev/null
