package kernel

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Counters are the kernel's network counters, as nstat names them:
// "TcpExtListenOverflows", "TcpRetransSegs", … They count for the whole
// network namespace: on a machine's own network everything it does adds
// to them; in a lab of the program's own (package lab) only the
// program's sockets do.
type Counters map[string]int64

// ReadCounters reads the counters of /proc/net/snmp and /proc/net/netstat
// (the Ip, Tcp, Udp, TcpExt and IpExt lines), the files nstat reads, of
// the calling thread's network namespace: a thread moved to another
// (such as a tracer/link end's) reads that one's.
func ReadCounters() (Counters, error) {
	c := Counters{}
	for _, path := range []string{"/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"} {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("kernel: counters: %w", err)
		}
		if err := c.parse(b); err != nil {
			return nil, fmt.Errorf("kernel: counters: %s: %w", path, err)
		}
	}
	return c, nil
}

// parse reads the files' pairs of lines: "TcpExt: Name1 Name2 …", then
// "TcpExt: 1 2 …".
func (c Counters) parse(b []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	var names []string
	var prefix string
	for sc.Scan() {
		group, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if names == nil || group != prefix {
			prefix, names = group, fields
			continue
		}
		if len(fields) != len(names) {
			return fmt.Errorf("%s: %d values for %d names", group, len(fields), len(names))
		}
		for i, f := range fields {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				continue // Tcp's MaxConn is -1; not a counter of ours
			}
			c[group+names[i]] = v
		}
		names = nil
	}
	return sc.Err()
}

// CounterChange is how much a counter went up.
type CounterChange struct {
	Name  string `json:"name"`
	Delta int64  `json:"delta"`
	Value int64  `json:"value"` // after
	// At is whose kernel counted, on a link between two network
	// namespaces (package tracer/link): "client" or "server". Empty
	// for a lab's one network.
	At string `json:"at,omitempty"`
}

// Since returns the counters among names that went up from before to c,
// in the order of names.
func (c Counters) Since(before Counters, names []string) []CounterChange {
	var out []CounterChange
	for _, n := range names {
		if d := c[n] - before[n]; d != 0 {
			out = append(out, CounterChange{Name: n, Delta: d, Value: c[n]})
		}
	}
	return out
}

// Known are the counters a lesson shows when they move, each with what
// it counts; [Counters.Since] takes their names (KnownNames).
var Known = map[string]string{
	"TcpActiveOpens":                 "connections this network's programs opened with connect (a SYN sent)",
	"TcpPassiveOpens":                "connections its listeners completed (a SYN received and answered)",
	"TcpAttemptFails":                "connects that failed, the SYN refused with RST or its retries spent (a program that gives up first, with a deadline, is not counted)",
	"TcpEstabResets":                 "sockets that went from ESTABLISHED or CLOSE_WAIT straight to CLOSED, by a RST sent or received or by retries given up (on loopback both ends of a connection count)",
	"TcpRetransSegs":                 "segments sent again",
	"TcpOutRsts":                     "segments with RST sent",
	"TcpExtListenOverflows":          "SYNs or handshake ACKs a listener dropped because its accept queue was full",
	"TcpExtListenDrops":              "segments a listener dropped, a full queue among the reasons",
	"TcpExtTCPLossProbes":            "tail loss probes sent (RFC 8985), the last unacknowledged segment sent again when no ACK came within the probe timeout, before the retransmission timeout would",
	"TcpExtTCPTimeouts":              "retransmission timeouts, each time the RTO fired and the kernel sent again what was unacknowledged or, its retries spent, gave up",
	"TcpExtTCPSynRetrans":            "SYNs and SYN-ACKs sent again",
	"TcpExtTCPFastRetrans":           "segments sent again by fast retransmit, on duplicate ACKs or SACK",
	"TcpExtTCPSackRecovery":          "recoveries from a loss that SACK blocks showed",
	"TcpExtTCPDSACKRecv":             "D-SACKs received: the peer got a segment twice",
	"TcpExtTCPAbortOnData":           "connections reset by a close with SO_LINGER 0, or because data came after their program had closed them",
	"TcpExtTCPAbortOnClose":          "connections reset because the program closed them with data unread",
	"TcpExtTCPAbortOnTimeout":        "connections the kernel gave up on its timers, with ETIMEDOUT: retransmissions or SYNs unanswered, TCP_USER_TIMEOUT passed, or keepalive probes unanswered",
	"TcpExtTCPAbortOnLinger":         "connections reset instead of waiting in FIN_WAIT_2, their program having closed them with TCP_LINGER2 negative",
	"TcpExtTCPWinProbe":              "zero-window probes sent",
	"TcpExtTCPToZeroWindowAdv":       "times this network's receivers advertised a window of 0",
	"TcpExtTCPFromZeroWindowAdv":     "times a window of 0 was opened again",
	"TcpExtTW":                       "sockets that entered TIME_WAIT with its full 60 s timer (counted when the timer is set, not when it runs out)",
	"TcpExtTCPKeepAlive":             "keepalive probes sent",
	"TcpExtTCPOrigDataSent":          "segments of new data sent",
	"TcpExtTCPDelivered":             "segments the peers acknowledged",
	"TcpExtTCPACKSkippedSeq":         "ACKs not sent to segments outside the window, held back by net.ipv4.tcp_invalid_ratelimit",
	"TcpExtTCPZeroWindowDrop":        "segments dropped because the receive window was 0",
	"TcpExtTCPRcvQDrop":              "segments dropped because the receive buffer was full",
	"TcpExtTCPSpuriousRTOs":          "retransmission timeouts found to have been needless",
	"TcpExtTCPSpuriousRtxHostQueues": "segments not sent again because the first copy was still queued on this host",
}

// KnownNames are Known's names, in a fixed order.
var KnownNames = func() []string {
	var n []string
	for k := range Known {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}()
