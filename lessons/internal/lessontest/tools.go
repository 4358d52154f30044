package lessontest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tcptour/tracer/kernel"
)

// SSRow is a socket as a row of ss shows it.
type SSRow struct {
	// State is ss's name for it (ESTAB, CLOSE-WAIT); "" where ss was
	// asked for one state and left the column out.
	State        string
	RecvQ, SendQ int
	Local, Peer  string // as ss prints them: 127.0.0.1:6969, 0.0.0.0:*
	// Details is the rest of the row (the timer with -o, the process
	// with -p) and, with -i, the indented line that follows it.
	Details string
}

func (r SSRow) String() string {
	return strings.TrimSpace(strings.Join([]string{r.State, strconv.Itoa(r.RecvQ), strconv.Itoa(r.SendQ), r.Local, r.Peer, r.Details}, " "))
}

// SS runs ss with args, as a Try this's other terminal does, and
// returns its rows; it skips the test where ss is not installed.
func SS(t *testing.T, args ...string) []SSRow {
	t.Helper()
	out, err := exec.Command(Tool(t, "ss"), args...).Output()
	if err != nil {
		t.Fatalf("ss %s: %v", strings.Join(args, " "), err)
	}
	return SSRows(string(out))
}

// SSRows reads the rows of ss's output, header or not.
func SSRows(out string) []SSRow {
	var rows []SSRow
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case line[0] == ' ' || line[0] == '\t':
			if len(rows) > 0 {
				r := &rows[len(rows)-1]
				r.Details = strings.TrimSpace(r.Details + " " + strings.Join(f, " "))
			}
		case f[0] == "State" || f[0] == "Recv-Q" || f[0] == "Netid": // the header
		default:
			var r SSRow
			if _, err := strconv.Atoi(f[0]); err != nil {
				r.State, f = f[0], f[1:]
			}
			if len(f) < 4 {
				continue
			}
			r.RecvQ, _ = strconv.Atoi(f[0])
			r.SendQ, _ = strconv.Atoi(f[1])
			r.Local, r.Peer, r.Details = f[2], f[3], strings.Join(f[4:], " ")
			rows = append(rows, r)
		}
	}
	return rows
}

// SSRowOf returns the row of rows for the socket ft; a listener's peer
// is 0.0.0.0:*.
func SSRowOf(rows []SSRow, ft kernel.FiveTuple) (SSRow, bool) {
	peer := "0.0.0.0:*"
	if ft.Remote.IsValid() {
		peer = ft.Remote.String()
	}
	for _, r := range rows {
		if r.Local == ft.Local.String() && r.Peer == peer {
			return r, true
		}
	}
	return SSRow{}, false
}

// Tshark reads the capture file pcap with tshark, keeping the packets
// that match the display filter, and returns what it printed: a line a
// packet, with fields the values of those fields (-T fields -e …)
// separated by tabs. It skips the test where tshark is not installed.
func Tshark(t *testing.T, pcap, filter string, fields ...string) string {
	t.Helper()
	args := []string{"-r", pcap, "-Y", filter}
	if len(fields) > 0 {
		args = append(args, "-T", "fields")
		for _, f := range fields {
			args = append(args, "-e", f)
		}
	}
	out, err := exec.Command(Tool(t, "tshark"), args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// JQ builds the lesson in the current directory, runs it with --json
// and pipes its trace through jq -r filter, as a Try this does, and
// returns what jq printed. It skips the test where jq is not installed.
func JQ(t *testing.T, filter string) string {
	t.Helper()
	jq := Tool(t, "jq")
	bin := Build(t)
	out, err := exec.Command("sh", "-c", `"$0" --json </dev/null | "$1" -r "$2"`, bin, jq, filter).Output()
	if err != nil {
		t.Fatalf("lesson --json | jq -r '%s': %v", filter, err)
	}
	return string(out)
}

// NobodyDir returns a temporary directory of the test's own that the
// user nobody may enter and read: the testing package makes the
// directory above t.TempDir() 0700.
func NobodyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
