#!/bin/sh
# tbf.sh makes tbf.pcap: a transfer through a veth pair whose sending
# end has a token bucket filter with a small queue (tc qdisc tbf, rate
# 20 Mbit/s, limit 6 kB), which drops what does not fit: losses that no
# rule picked, as a slow link's queue makes them (netem is not needed).
# The capture is taken at the sender's veth, after the qdisc, with
# snaplen 96 (headers only), by tcpdump. Needs root, iproute2, tcpdump
# and python3. Run from the module's root:
#
#	sh tracer/wire/testdata/makecaps/tbf.sh [directory]
set -eu
dir=${1:-tracer/wire/testdata}
a=tbfa$$ b=tbfb$$
ip netns add $a
ip netns add $b
trap 'ip netns del $a; ip netns del $b' EXIT
ip link add va$$ type veth peer name vb$$
ip link set va$$ netns $a
ip link set vb$$ netns $b
ip -n $a addr add 10.9.0.1/24 dev va$$
ip -n $b addr add 10.9.0.2/24 dev vb$$
ip -n $a link set va$$ up
ip -n $b link set vb$$ up
ip -n $a link set lo up
ip -n $b link set lo up
# One segment per frame, as on a real link.
ip netns exec $a ethtool -K va$$ tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec $b ethtool -K vb$$ tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec $a tc qdisc add dev va$$ root tbf rate 20mbit burst 8kb limit 6kb
ip netns exec $b python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.9.0.2", 9000))
s.listen()
print("listening", flush=True)
c, _ = s.accept()
while c.recv(65536):
    pass
c.close()
' > /tmp/tbf-server.$$ &
server=$!
until grep -q listening /tmp/tbf-server.$$; do sleep 0.05; done
ip netns exec $a tcpdump -i va$$ -w "$dir/tbf.pcap" -s 96 -U --immediate-mode 'tcp port 9000' 2>/tmp/tbf-tcpdump.$$ &
dump=$!
until grep -q listening /tmp/tbf-tcpdump.$$; do sleep 0.05; done
ip netns exec $a python3 -c '
import socket
c = socket.create_connection(("10.9.0.2", 9000))
c.sendall(b"x" * 150000)
c.shutdown(socket.SHUT_WR)
while c.recv(100):
    pass
c.close()
'
wait $server
# The client read the server'"'"'s FIN; its last ACK is on its way out.
sleep 0.5
kill $dump
wait $dump || true
ip netns exec $a tc -s qdisc show dev va$$ | sed -n 2p
cat /tmp/tbf-tcpdump.$$; rm -f /tmp/tbf-server.$$ /tmp/tbf-tcpdump.$$
