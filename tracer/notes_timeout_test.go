package tracer

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// ETIMEDOUT from connect is the SYNs' retries spent; from a read or a
// write on an open connection, retransmissions, TCP_USER_TIMEOUT or
// keepalive probes (lesson 15).
func TestErrorNoteTimedOut(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", syscall.ETIMEDOUT)
	if n := errorNote("connect", err); !strings.Contains(n, "its SYNs") {
		t.Errorf("connect: %q", n)
	}
	for _, op := range []string{"read", "write"} {
		if n := errorNote(op, err); !strings.Contains(n, "keepalive probes") || !strings.Contains(n, "TCP_USER_TIMEOUT") {
			t.Errorf("%s: %q", op, n)
		}
	}
}
