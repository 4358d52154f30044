#!/bin/sh
# lab-refused.sh PACKAGE: what a lesson prints on stderr where the
# system refuses it a lab, for the excerpts docgen writes in
# docs/lab.md. Run from the repository's root, as root.
#
# It builds PACKAGE (./lessons/03) into a temporary directory and runs
# it as the user nobody, with --no-color, stdin from /dev/null and
# stdout thrown away, in a user namespace of its own (unshare(1)) whose
# limits forbid the namespaces a lab needs; the machine's own limits do
# not change. Twice:
#
#   - as a user there (uid 1000, keeping the capabilities that set the
#     limits), with user.max_user_namespaces = 0: as a learner on a
#     system with user namespaces turned off;
#   - as root there, with user.max_net_namespaces = 0: as root (sudo)
#     on a system with network namespaces turned off.
#
# For each it prints a line "# " and the case, then the lesson's stderr.
set -eu

if [ "$#" -ne 1 ]; then
	echo "usage: lab-refused.sh PACKAGE" >&2
	exit 2
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
go build -o "$dir/prog" "$1"
cd "$dir"

limits='echo 0 >/proc/sys/user/max_user_namespaces && echo 0 >/proc/sys/user/max_net_namespaces && exec "$0" --no-color'
echo "# a user, where user.max_user_namespaces = 0"
setpriv --reuid=65534 --regid=65534 --clear-groups \
	unshare -U --map-user=1000 --map-group=1000 --keep-caps sh -c "$limits" ./prog </dev/null 2>&1 >/dev/null
echo "# root, where user.max_net_namespaces = 0"
setpriv --reuid=65534 --regid=65534 --clear-groups \
	unshare -U -r sh -c "$limits" ./prog </dev/null 2>&1 >/dev/null
