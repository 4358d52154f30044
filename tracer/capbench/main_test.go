package main

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The test binary is capbench itself when asked: TestRun runs it so,
// and it runs itself again for the burst and the captures.
func TestMain(m *testing.M) {
	if os.Getenv("CAPBENCH_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string // "" for none
	}{
		{nil, ""},
		{[]string{"-n", "20000", "-c", "32", "-print", "pretty", "-pipeline=false"}, ""},
		{[]string{"-print", "yaml"}, `-print "yaml": want json or pretty`},
		{[]string{"-n", "0"}, "-n 0: want 1 to 1000000"},
		{[]string{"-tcpdump-buffer", "-1"}, "-tcpdump-buffer -1"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stderr strings.Builder
		cfg, err := parseFlags(tc.args, &stderr)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
		case tc.err != "" && !strings.Contains(stderr.String(), "usage:"):
			t.Errorf("%q: no usage on stderr: %q", tc.args, stderr.String())
		}
		if tc.args == nil && (!cfg.pipeline || cfg.print != "json" || cfg.tcpdumpBuf != 262144 || !cfg.netns) {
			t.Errorf("defaults: %+v", cfg)
		}
	}
}
