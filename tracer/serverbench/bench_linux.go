//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

// stopGrace is how long a server has to exit after SIGINT (the captured
// server prints the rest of its trace and completes its pcap file)
// before it is killed.
const stopGrace = 15 * time.Second

// run builds the programs, starts the servers, runs the rounds, stops
// every process it started, and prints the report. It returns the
// report (nil if nothing ran) and an error if it could not run at all
// or was interrupted; errors in the runs are in the report (ok()).
func run(ctx context.Context, cfg config, stdout, progress io.Writer) (*report, error) {
	rep := &report{rounds: cfg.rounds}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	dir := cfg.keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "serverbench"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else {
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	loadAvg0 := loadAvg()
	started := time.Now().UTC()

	fmt.Fprintf(progress, "serverbench: building ./server and ./tracer/load into %s\n", dir)
	serverBin, loadBin := filepath.Join(dir, "server"), filepath.Join(dir, "load")
	// One go build for both: -o names a directory, each command is
	// written there under its name.
	build := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "tcptour/server", "tcptour/tracer/load")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}

	// Every server up at once, each on its own port.
	servers := map[string]*server{}
	defer func() {
		stopAll(servers)
	}()
	for _, name := range cfg.only {
		info := serverInfo{name: name}
		s, err := startServer(ctx, cfg, name, dir, root, self, serverBin)
		if ctx.Err() != nil {
			if s != nil {
				servers[name] = s
			}
			return nil, errors.New("interrupted while starting the servers")
		}
		if err != nil {
			var sk skipError
			if !errors.As(err, &sk) {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			info.skipped = sk.why
		} else {
			servers[name] = s
			info.command = s.command
		}
		rep.servers = append(rep.servers, info)
	}

	// The header now, as progress; the report (on stdout) repeats it.
	rep.header = header(ctx, root, cfg, started, loadAvg0, rep.servers, servers)
	for _, l := range rep.header {
		fmt.Fprintln(progress, l)
	}
	names := rep.ran()
	if len(names) == 0 {
		return rep, errors.New("no server could run")
	}

	var notes []string
	if cfg.warmup > 0 {
		for _, n := range names {
			r := servers[n].measure(ctx, loadBin, cfg.clients[0], cfg.warmup)
			if ctx.Err() != nil {
				break
			}
			fmt.Fprintf(progress, "warm-up, %d clients, %v: %-16s %s conn/s, %d errors\n", cfg.clients[0], cfg.warmup, n, num(r.rate), r.errors)
			if r.errors > 0 || r.fail != "" {
				notes = append(notes, fmt.Sprintf("warm-up of %s: %d errors %s", n, r.errors, r.fail))
				rep.failed = true
			}
		}
	}

rounds:
	for _, c := range cfg.clients {
		t := &table{clients: c, runs: map[string][]trial{}}
		for _, n := range names {
			t.runs[n] = make([]trial, cfg.rounds)
		}
		rep.tables = append(rep.tables, t)
		for round := range cfg.rounds {
			for i := range names {
				// Rotated: each round starts one server further on.
				n := names[(i+round)%len(names)]
				if ctx.Err() != nil {
					break rounds
				}
				r := servers[n].measure(ctx, loadBin, c, cfg.dur)
				if ctx.Err() != nil {
					break rounds
				}
				t.runs[n][round] = r
				if r.errors > 0 || r.fail != "" {
					rep.failed = true
				}
				fmt.Fprintf(progress, "%d clients, round %d/%d: %-16s %7s conn/s  %d errors  CPU %.1f µs/conn%s\n",
					c, round+1, cfg.rounds, n, num(r.rate), r.errors, r.cpuPerConn(r.cpu), cond(r.fail != "", "  "+r.fail))
			}
		}
	}
	interrupted := ctx.Err() != nil

	// Stop everything, then read the packet files back.
	stopAll(servers)
	for i := range rep.servers {
		s := servers[rep.servers[i].name]
		if s == nil {
			continue
		}
		if s.dead != "" {
			notes = append(notes, fmt.Sprintf("%s stopped before the end: %s", s.name, s.dead))
			rep.failed = true
		} else if why := s.exitProblem(); why != "" {
			notes = append(notes, fmt.Sprintf("%s at exit: %s", s.name, why))
			rep.failed = true
		}
		if s.pcap == "" {
			continue
		}
		what, ok := s.packetReport()
		rep.servers[i].packets = what
		if !ok && !interrupted {
			rep.failed = true
		}
	}
	rep.footer = append(rep.footer, "")
	for _, n := range notes {
		rep.footer = append(rep.footer, "! "+n)
	}
	rep.footer = append(rep.footer, "load average at the end: "+loadAvg(), fmt.Sprintf("took %v", time.Since(started).Round(time.Second)))
	if cfg.keep != "" {
		rep.footer = append(rep.footer, "files kept in "+dir+":")
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				rep.footer = append(rep.footer, fmt.Sprintf("  %-24s %10d bytes", e.Name(), fi.Size()))
			}
		}
	}
	rep.print(stdout)
	if interrupted {
		return rep, errors.New("interrupted: the figures above are those measured until then")
	}
	return rep, nil
}

// moduleRoot is the directory of the tcptour module, where the build and
// node run.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %v (run inside the tcptour module)", err)
	}
	path, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if path != "tcptour" || dir == "" {
		return "", fmt.Errorf("run inside the tcptour module (go list -m says %q)", strings.TrimSpace(string(out)))
	}
	return dir, nil
}

func header(ctx context.Context, root string, cfg config, started time.Time, load0 string, infos []serverInfo, servers map[string]*server) []string {
	who := fmt.Sprintf("uid %d", os.Geteuid())
	if u, err := user.Current(); err == nil {
		who = fmt.Sprintf("%s (uid %s)", u.Username, u.Uid)
	}
	cs := make([]string, len(cfg.clients))
	for i, c := range cfg.clients {
		cs[i] = strconv.Itoa(c)
	}
	h := []string{
		fmt.Sprintf("serverbench %s: tree %s, %s, %d CPUs, as %s", started.Format("2006-01-02 15:04:05 UTC"), commit(ctx, root), runtime.Version(), runtime.NumCPU(), who),
		"load average at the start: " + load0,
		fmt.Sprintf("each run: load -addr 127.0.0.1:PORT -c N -d %v against one server, for N in %s; %d rounds, the order rotated each round;", cfg.dur, strings.Join(cs, ", "), cfg.rounds),
		fmt.Sprintf("all servers up at once; a warm-up run of %v each first (not reported)", cfg.warmup),
		"servers:",
	}
	for _, in := range infos {
		if s := servers[in.name]; s != nil {
			cmd := in.command
			if s.td != nil {
				cmd = strings.Replace(cmd, "while tcpdump", fmt.Sprintf("while (pid %d) tcpdump", s.td.p.pid()), 1)
			}
			h = append(h, fmt.Sprintf("  %-16s pid %-7d %s", in.name, s.p.pid(), cmd))
		} else {
			h = append(h, fmt.Sprintf("  %-16s skipped: %s", in.name, in.skipped))
		}
	}
	return h
}

// commit is the tree's commit, with +dirty if it has changes (the
// binaries are built from the tree as it is).
func commit(ctx context.Context, root string) string {
	git := func(args ...string) (string, error) {
		// safe.directory: as another user (asnobody) than the tree's owner.
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", root, "-c", "safe.directory=*"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	c, err := git("rev-parse", "--short", "HEAD")
	if err != nil {
		return "unknown (git: " + err.Error() + ")"
	}
	st, err := git("status", "--porcelain")
	switch {
	case err != nil:
		c += " (dirty or not: git status failed)"
	case st != "":
		c += "+dirty"
	}
	return c
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 min)"
}

// --- processes ---

// proc is a process this program started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and been waited for
	err  error         // Wait's, once done
}

// start starts cmd in a process group of its own (Ctrl-C at a terminal
// reaches this program, which stops its children in order), to be
// killed by the kernel should this program die. The kernel sends
// Pdeathsig when the thread that started the child ends, so the child is
// started, and waited for, from a goroutine locked to its thread.
func start(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine, after
		// the child.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGINT, and SIGKILL if the process has not exited after
// grace; it returns once the process has been waited for.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	// NOTE: ignoring the error; the process may have just exited.
	_ = p.cmd.Process.Signal(os.Interrupt)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		// NOTE: ignoring the error, as above.
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// interruptedExit says whether err is how the process ends on SIGINT:
// killed by it, or exit status 130 (the traced server).
func interruptedExit(err error) bool {
	if err == nil {
		return true
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
		return true
	}
	return ee.ExitCode() == 130
}

// cpuTime is the process's CPU time, user and system, children
// included, from /proc/PID/stat (in clock ticks, USER_HZ = 100).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU sums utime, stime, cutime and cstime (fields 14 to 17;
// the command name, field 2, may hold spaces and parentheses).
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/PID/stat: %q", stat)
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: %q", stat)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// settle waits until none of the processes has used a tick of CPU in
// 50 ms (each has done the work the run left it: its last batch of
// trace, the capture's last block), at most 1 s, and returns their CPU
// times.
func settle(ctx context.Context, pids []int) []time.Duration {
	read := func() []time.Duration {
		out := make([]time.Duration, len(pids))
		for i, pid := range pids {
			// NOTE: ignoring the error: a process gone is found by its
			// exit, and reads as 0.
			out[i], _ = cpuTime(pid)
		}
		return out
	}
	last := read()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return last
		case <-t.C:
		}
		now := read()
		same := true
		for i := range now {
			same = same && now[i] == last[i]
		}
		if same {
			return now
		}
		last = now
	}
	return last
}

// --- servers ---

// skipError is a server that cannot run here, and why.
type skipError struct{ why string }

func (e skipError) Error() string { return e.why }

// server is one of the servers under load.
type server struct {
	name    string
	addr    string
	command string
	p       *proc
	stderr  string // the file its stderr goes to
	td      *tcpdump
	pcap    string // the packet file to read back at the end: the server's or tcpdump's
	served  int64  // connections load made to it, warm-up included
	dead    string // why it stopped before the end
}

// freePort asks the kernel for a free loopback port. Another program
// could take it before the server listens; the server then fails to
// listen, and says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts the server called name, its output to files in dir,
// and returns once it listens. A server that cannot run here returns a
// skipError.
func startServer(ctx context.Context, cfg config, name, dir, root, self, serverBin string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{name: name, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	var cmd *exec.Cmd
	var show string
	file := func(suffix string) string {
		return filepath.Join(dir, strings.ReplaceAll(name, "+", "-")+suffix)
	}
	stdout := ".out"
	if name == traced || name == captured {
		stdout = ".json"
	}
	switch name {
	case untraced, untracedTcpdump:
		cmd = exec.Command(self)
		cmd.Env = append(os.Environ(), roleEnv+"=untraced", addrEnv+"="+s.addr)
		show = fmt.Sprintf("serverbench's untraced Go echo on %s (a goroutine per connection, the traced server's buffers)", s.addr)
	case traced:
		cmd = exec.Command(serverBin, "-json", "-capture=off", "-addr", s.addr)
		show = fmt.Sprintf("./server -json -capture=off -addr %s >%s 2>%s", s.addr, filepath.Base(file(".json")), filepath.Base(file(".stderr")))
	case captured:
		s.pcap = file(".pcapng")
		cmd = exec.Command(serverBin, "-json", "-capture=on", "-pcap", s.pcap, "-addr", s.addr)
		show = fmt.Sprintf("./server -json -capture=on -pcap %s -addr %s >%s 2>%s", filepath.Base(s.pcap), s.addr, filepath.Base(file(".json")), filepath.Base(file(".stderr")))
	case node:
		path, err := exec.LookPath("node")
		if err != nil {
			return nil, skipError{"node is not installed (not on PATH)"}
		}
		js := filepath.Join(root, "client", "testdata", "server.js")
		cmd = exec.Command(path, js)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT="+strconv.Itoa(port))
		show = fmt.Sprintf("HOST=127.0.0.1 PORT=%d node client/testdata/server.js >%s 2>%s", port, filepath.Base(file(stdout)), filepath.Base(file(".stderr")))
	default:
		return nil, fmt.Errorf("no server %q", name)
	}
	if name == untracedTcpdump {
		// tcpdump first: where it may not capture, the server is not
		// started at all.
		path, err := exec.LookPath("tcpdump")
		if err != nil {
			return nil, skipError{"tcpdump is not installed (not on PATH)"}
		}
		s.pcap = file(".pcap")
		if s.td, err = startTcpdump(ctx, path, s.pcap, port, cfg.tcpdumpBuf); err != nil {
			return nil, err
		}
	}
	out, err := os.Create(file(stdout))
	if err != nil {
		s.td.stop(stopGrace)
		return nil, err
	}
	defer out.Close()
	s.stderr = file(".stderr")
	errf, err := os.Create(s.stderr)
	if err != nil {
		s.td.stop(stopGrace)
		return nil, err
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	if s.p, err = start(cmd); err != nil {
		s.td.stop(stopGrace)
		return nil, err
	}
	s.command = show
	if s.td != nil {
		s.command += "\n" + strings.Repeat(" ", 32) + "while " + s.td.command
	}
	if err := s.waitListening(ctx, 30*time.Second); err != nil {
		s.p.stop(stopGrace)
		s.td.stop(stopGrace)
		if name == captured && s.p.exited() {
			// Capture not permitted here: the server said why.
			return nil, skipError{"the server did not start: " + s.stderrTail()}
		}
		return nil, err
	}
	return s, nil
}

// waitListening returns once a connection to the server's port
// succeeds, or the server has exited, or after timeout. It connects
// rather than reading the server's "listening" line because the
// server's output goes to a file, not through this program.
func (s *server) waitListening(ctx context.Context, timeout time.Duration) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c, err := net.DialTimeout("tcp4", s.addr, time.Second)
		if err == nil {
			c.Close()
			s.served++
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.p.done:
			return fmt.Errorf("exited before it listened on %s: %v: %s", s.addr, s.p.err, s.stderrTail())
		case <-deadline.C:
			return fmt.Errorf("not listening on %s after %v (last: %v): %s", s.addr, timeout, err, s.stderrTail())
		case <-t.C:
		}
	}
}

// stderrTail is the end of the server's stderr, on one line.
func (s *server) stderrTail() string {
	b, _ := os.ReadFile(s.stderr)
	if len(b) > 400 {
		b = b[len(b)-400:]
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// exitProblem says what went wrong at the server's exit, after stopAll;
// "" if it exited as told.
func (s *server) exitProblem() string {
	var p []string
	if !interruptedExit(s.p.err) {
		p = append(p, fmt.Sprintf("%v: %s", s.p.err, s.stderrTail()))
	}
	if s.td != nil && !interruptedExit(s.td.p.err) {
		p = append(p, fmt.Sprintf("tcpdump: %v: %s", s.td.p.err, s.td.output()))
	}
	return strings.Join(p, "; ")
}

// measure runs load against the server: clients for d.
func (s *server) measure(ctx context.Context, loadBin string, clients int, d time.Duration) trial {
	var r trial
	if s.dead != "" {
		r.fail = s.dead
		return r
	}
	pids := []int{s.p.pid()}
	if s.td != nil {
		pids = append(pids, s.td.p.pid())
	}
	before := settle(ctx, pids) // also lets the last run's server finish its work
	var out bytes.Buffer
	cmd := exec.Command(loadBin, "-addr", s.addr, "-c", strconv.Itoa(clients), "-d", d.String())
	cmd.Stdout, cmd.Stderr = &out, &out
	lp, err := start(cmd)
	if err != nil {
		r.fail = "load: " + err.Error()
		return r
	}
	select {
	case <-lp.done:
	case <-ctx.Done():
		// Interrupted: not a figure, but its connections count for
		// the packets per connection.
		lp.stop(time.Second)
		lr, _ := parseLoad(out.String())
		s.served += lr.conns + lr.errors
		return r
	}
	after := settle(ctx, pids)
	lr, perr := parseLoad(out.String())
	r.loadResult = lr
	r.done = true
	r.cpu = after[0] - before[0]
	if s.td != nil {
		r.tdCPU = after[1] - before[1]
	}
	s.served += lr.conns + lr.errors
	switch {
	case s.p.exited():
		s.dead = fmt.Sprintf("exited during a run with %d clients: %v: %s", clients, s.p.err, s.stderrTail())
		r.fail = s.dead
	case s.td != nil && s.td.p.exited():
		s.dead = fmt.Sprintf("tcpdump exited during a run with %d clients: %v: %s", clients, s.td.p.err, s.td.output())
		r.fail = s.dead
	case perr != nil:
		r.fail = perr.Error()
	case lp.err != nil:
		r.fail = fmt.Sprintf("load: %v: %s", lp.err, lastLine(out.String()))
	}
	return r
}

func cond(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// stopAll stops every server and tcpdump, all at once, and waits for
// them.
func stopAll(servers map[string]*server) {
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() { s.p.stop(stopGrace) })
		if s.td != nil {
			wg.Go(func() { s.td.stop(stopGrace) })
		}
	}
	wg.Wait()
}

// packetReport counts the packets in the server's packet file; ok is
// false if it holds none or cannot be read.
func (s *server) packetReport() (string, bool) {
	whose := "the server's pcapng"
	if s.td != nil {
		whose = "tcpdump's pcap"
	}
	n, err := countPackets(s.pcap)
	what := fmt.Sprintf("%s %s: %d packets", whose, filepath.Base(s.pcap), n)
	if s.served > 0 {
		what += fmt.Sprintf(", %.1f per connection (%d connections made to it, warm-up and the readiness check included)", float64(n)/float64(s.served), s.served)
	}
	if s.td != nil {
		if st := tcpdumpStats.FindAllString(s.td.output(), -1); len(st) > 0 {
			what += "; tcpdump's own count: " + strings.Join(st, ", ")
		}
	}
	if err != nil {
		return what + "; error: " + err.Error(), false
	}
	if n == 0 {
		return what + ": EMPTY", false
	}
	return what, true
}

// countPackets counts the packets in a pcap or pcapng file.
func countPackets(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	var rd interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	if binary.LittleEndian.Uint32(magic) == 0x0A0D0D0A {
		rd, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		rd, err = pcapgo.NewReader(br)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	n := 0
	for {
		_, _, err := rd.ReadPacketData()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: after %d packets: %w", path, n, err)
		}
		n++
	}
}

// --- tcpdump ---

type tcpdump struct {
	p       *proc
	command string
	mu      sync.Mutex
	out     bytes.Buffer  // its stderr
	eof     chan struct{} // closed when its stderr ends
}

var tcpdumpStats = regexp.MustCompile(`\d+ packets? (captured|received by filter|dropped by kernel)`)

// startTcpdump starts tcpdump -i lo --immediate-mode [-B bufKiB] -w file on port,
// and returns once it says it listens. Where it may not capture, it
// returns a skipError with tcpdump's own words.
func startTcpdump(ctx context.Context, path, file string, port, bufKiB int) (*tcpdump, error) {
	args := []string{"-i", "lo", "-n", "--immediate-mode"}
	if bufKiB > 0 {
		args = append(args, "-B", strconv.Itoa(bufKiB))
	}
	if os.Geteuid() == 0 {
		// As root, tcpdump would write the file as the user tcpdump,
		// who may not write in our directory.
		args = append(args, "-Z", "root")
	}
	args = append(args, "-w", file, fmt.Sprintf("tcp port %d", port))
	t := &tcpdump{eof: make(chan struct{}), command: "tcpdump " + strings.Join(args[:len(args)-1], " ") + fmt.Sprintf(" 'tcp port %d'", port)}
	t.command = strings.Replace(t.command, file, filepath.Base(file), 1)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stderr = w
	t.p, err = start(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	listening := make(chan struct{})
	go func() {
		defer close(t.eof)
		defer r.Close()
		sc := bufio.NewScanner(r)
		said := false
		for sc.Scan() {
			t.mu.Lock()
			t.out.WriteString(sc.Text() + "\n")
			t.mu.Unlock()
			if !said && strings.Contains(sc.Text(), "listening on") {
				said = true
				close(listening)
			}
		}
	}()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case <-listening:
		return t, nil
	case <-t.eof:
		t.stop(stopGrace)
		return nil, skipError{"tcpdump did not start: " + t.output()}
	case <-ctx.Done():
		t.stop(stopGrace)
		return nil, ctx.Err()
	case <-timeout.C:
		t.stop(stopGrace)
		return nil, fmt.Errorf("tcpdump did not say it listens within 30 s: %s", t.output())
	}
}

// output is what tcpdump wrote on stderr so far, on one line.
func (t *tcpdump) output() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(strings.Fields(t.out.String()), " ")
}

// stop stops tcpdump (it prints its counts on SIGINT) and waits until
// its stderr has been read.
func (t *tcpdump) stop(grace time.Duration) {
	if t == nil {
		return
	}
	t.p.stop(grace)
	<-t.eof
}
