//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tcptour/tracer/capture"
	"tcptour/tracer/outfile"
)

func run(ctx context.Context, cfg config, stdin io.Reader, stdout io.Writer) error {
	switch cfg.role {
	case "capture":
		return captureChild(ctx, cfg, stdin, stdout)
	case "bench":
		return bench(ctx, cfg, stdout, inherited(cfg.profileFD))
	case "":
	default:
		return fmt.Errorf("-role %q: unknown", cfg.role)
	}
	// The profile's file is checked before the burst, and put in place
	// only after a run that went well (see tracer/outfile). The
	// capturing child writes it, through a file descriptor it inherits.
	var prof *outfile.File
	if cfg.cpuprofile != "" {
		var err error
		if prof, err = outfile.Create("cpuprofile", cfg.cpuprofile, 0o644); err != nil {
			return err
		}
		defer prof.Discard()
	}
	if !cfg.netns {
		if err := bench(ctx, cfg, stdout, prof.OSFile()); err != nil {
			return err
		}
		return prof.Commit()
	}
	// The burst runs in a child in a network namespace of its own: all
	// its threads (and its children, tcpdump included) see a lo that
	// carries only the burst.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := append(os.Args[1:len(os.Args):len(os.Args)], "-role=bench")
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdout, cmd.Stderr = stdout, os.Stderr
	if prof != nil {
		cmd.ExtraFiles = []*os.File{prof.OSFile()} // fd 3
		cmd.Args = append(cmd.Args, "-profile-fd=3")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("a network namespace needs root (%v): run with sudo, or with -netns=false on the machine's own lo", err)
		}
		return fmt.Errorf("start the burst in a network namespace: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return errors.New("the burst failed (see above)")
	}
	return prof.Commit()
}

// inherited returns the file a parent passed as file descriptor fd, or
// nil for 0.
func inherited(fd int) *os.File {
	if fd <= 0 {
		return nil
	}
	return os.NewFile(uintptr(fd), "cpuprofile")
}

// result is what one capture saw.
type result struct {
	name       string
	captured   int
	unique     int
	dups       int
	drops      uint64
	cpu        time.Duration
	frames     map[uint64]int64 // frame hash → timestamp (ns)
	kernelSeen uint64           // packets the kernel passed to it, where known
	note       string
}

// bench runs the burst and both captures; prof, when not nil, is the
// file the capturing child writes its CPU profile to.
func bench(ctx context.Context, cfg config, stdout io.Writer, prof *os.File) error {
	where := "the machine's own lo"
	if cfg.netns {
		if err := loUp(); err != nil {
			return fmt.Errorf("bring lo up in the namespace: %w", err)
		}
		where = "lo in a network namespace of its own"
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go echo(ln)
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port

	ours, err := startChild(ctx, port, prof)
	if err != nil {
		return err
	}
	defer ours.kill()
	var td *tcpdump
	if cfg.tcpdump != "" {
		td, err = startTcpdump(ctx, cfg.tcpdump, cfg.tcpdumpBuf, port)
		if err != nil {
			fmt.Fprintf(stdout, "without tcpdump: %v\n", err)
			td = nil
		} else {
			defer td.kill()
		}
	}

	before, err := tcpCounters()
	if err != nil {
		return err
	}
	cpuOurs0, err := cpuTime(ours.cmd.Process.Pid)
	if err != nil {
		return err
	}
	var cpuTd0 time.Duration
	if td != nil {
		if cpuTd0, err = cpuTime(td.cmd.Process.Pid); err != nil {
			return err
		}
	}

	start := time.Now()
	nerr, firstErr := burst(ctx, cfg, addr)
	took := time.Since(start)
	waitQuietNet(ctx)
	after, err := tcpCounters()
	if err != nil {
		return err
	}
	cpuOurs1 := settle(ctx, ours.cmd.Process.Pid)
	var cpuTd1 time.Duration
	if td != nil {
		cpuTd1 = settle(ctx, td.cmd.Process.Pid)
	}
	expected := (after["OutSegs"] + after["RetransSegs"]) - (before["OutSegs"] + before["RetransSegs"])

	r1, err := ours.stop()
	if err != nil {
		return err
	}
	r1.cpu = cpuOurs1 - cpuOurs0
	results := []*result{r1}
	if td != nil {
		r2, err := td.stop()
		if err != nil {
			return err
		}
		r2.cpu = cpuTd1 - cpuTd0
		results = append(results, r2)
	}

	if td != nil {
		fmt.Fprintf(stdout, "tcpdump: %s\n", strings.Join(td.cmd.Args, " "))
	}
	fmt.Fprintf(stdout, "%d connections, %d clients at a time, on %s: %v, %d errors",
		cfg.conns, cfg.clients, where, took.Round(time.Millisecond), nerr)
	if firstErr != nil {
		fmt.Fprintf(stdout, " (first: %v)", firstErr)
	}
	fmt.Fprintf(stdout, "\nthe kernel sent %d TCP segments (/proc/net/snmp OutSegs+RetransSegs; InSegs %d)\n\n",
		expected, after["InSegs"]-before["InSegs"])
	printTable(stdout, expected, results)
	return nil
}

func printTable(w io.Writer, expected uint64, rs []*result) {
	row := func(label string, f func(r *result) string) {
		fmt.Fprintf(w, "%-28s", label)
		for _, r := range rs {
			fmt.Fprintf(w, " %16s", f(r))
		}
		fmt.Fprintln(w)
	}
	row("", func(r *result) string { return r.name })
	row("packets expected", func(*result) string { return strconv.FormatUint(expected, 10) })
	row("captured", func(r *result) string { return strconv.Itoa(r.captured) })
	row("duplicated", func(r *result) string { return strconv.Itoa(r.dups) })
	row("lost (expected - distinct)", func(r *result) string { return strconv.FormatInt(int64(expected)-int64(r.unique), 10) })
	row("dropped by the kernel", func(r *result) string { return strconv.FormatUint(r.drops, 10) })
	row("CPU time during the burst", func(r *result) string { return fmt.Sprintf("%.1f ms", r.cpu.Seconds()*1e3) })
	perPkt := func(r *result) float64 {
		if r.captured == 0 {
			return 0
		}
		return r.cpu.Seconds() * 1e6 / float64(r.captured)
	}
	row("CPU per packet", func(r *result) string { return fmt.Sprintf("%.2f µs", perPkt(r)) })
	if len(rs) > 1 && perPkt(rs[1]) > 0 {
		ref := perPkt(rs[1])
		row("CPU per packet vs tcpdump", func(r *result) string { return fmt.Sprintf("%.2f×", perPkt(r)/ref) })
		// The same frames? Compare the sets and the timestamps.
		var common int
		var skews []time.Duration
		for h, ts := range rs[0].frames {
			if ts2, ok := rs[1].frames[h]; ok {
				common++
				skews = append(skews, time.Duration(ts-ts2).Abs())
			}
		}
		slices.Sort(skews)
		fmt.Fprintf(w, "\nframes in both captures: %d; only in %s: %d; only in tcpdump's: %d\n",
			common, rs[0].name, rs[0].unique-common, rs[1].unique-common)
		if len(skews) > 0 {
			fmt.Fprintf(w, "timestamp difference of the same frame: median %v, max %v\n",
				skews[len(skews)/2], skews[len(skews)-1])
		}
	}
	for _, r := range rs {
		if r.note != "" {
			fmt.Fprintf(w, "%s: %s\n", r.name, r.note)
		}
	}
}

// echo is the seed's server, untraced: it answers each message with
// `You said "…"` and closes when the client does.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 2048)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					reply := append([]byte(`You said "`), buf[:n]...)
					if _, err := c.Write(append(reply, '"')); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// burst runs cfg.conns connections, cfg.clients at a time, and returns
// the number that failed and the first error.
func burst(ctx context.Context, cfg config, addr string) (int64, error) {
	var next, failed atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	want := len(`You said ""`) + len(cfg.msg)
	for range cfg.clients {
		wg.Go(func() {
			buf := make([]byte, want)
			for next.Add(1) <= int64(cfg.conns) && ctx.Err() == nil {
				if err := talk(addr, cfg.msg, buf); err != nil {
					failed.Add(1)
					once.Do(func() { first = err })
				}
			}
		})
	}
	wg.Wait()
	return failed.Load(), first
}

func talk(addr, msg string, buf []byte) error {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	_, err = io.ReadFull(c, buf)
	return err
}

// loUp brings the namespace's lo up (a new namespace starts with it down).
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// tcpCounters reads the Tcp line of /proc/net/snmp.
func tcpCounters() (map[string]uint64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return nil, err
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		m := make(map[string]uint64)
		for i, v := range f[1:] {
			if i < len(names) {
				n, _ := strconv.ParseInt(v, 10, 64) // MaxConn is -1
				m[names[i]] = uint64(n)
			}
		}
		return m, nil
	}
	return nil, errors.New("/proc/net/snmp: no Tcp line")
}

// waitQuietNet waits until the kernel has sent no TCP segment for 250 ms
// (the last ACKs of the closes, delayed ACKs), at most 5 s.
func waitQuietNet(ctx context.Context) {
	last, _ := tcpCounters()
	quiet := time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(25 * time.Millisecond)
		now, _ := tcpCounters()
		if now["OutSegs"] != last["OutSegs"] || now["RetransSegs"] != last["RetransSegs"] {
			last, quiet = now, time.Now()
		} else if time.Since(quiet) >= 250*time.Millisecond {
			return
		}
	}
}

// cpuTime is the CPU time the process has used so far: the sum of its
// threads' run time as the scheduler counts it (ns resolution).
func cpuTime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		sum += time.Duration(ns)
	}
	return sum, nil
}

// settle waits until the process has used less than 0.2 ms of CPU in 50
// ms (it has read everything and sleeps), at most 3 s, and returns its
// CPU time.
func settle(ctx context.Context, pid int) time.Duration {
	last, _ := cpuTime(pid)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(50 * time.Millisecond)
		now, _ := cpuTime(pid)
		if now-last < 200*time.Microsecond {
			return now
		}
		last = now
	}
	return last
}

func frameHash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// hashFrames counts distinct frames and duplicates.
func (r *result) hashFrames(data [][]byte, times []int64) {
	r.frames = make(map[uint64]int64, len(data))
	r.captured = len(data)
	for i, d := range data {
		h := frameHash(d)
		if _, ok := r.frames[h]; ok {
			r.dups++
			continue
		}
		r.frames[h] = times[i]
	}
	r.unique = len(r.frames)
}

// --- this package's capture, in a child process ---

// captureChild is the capturing process: it captures port until told to
// stop on stdin, then writes its counts and a line per packet.
func captureChild(ctx context.Context, cfg config, stdin io.Reader, stdout io.Writer) error {
	if cfg.port <= 0 || cfg.port > 65535 {
		return fmt.Errorf("-port %d", cfg.port)
	}
	// The Handler keeps what a real one would: the frame and its time.
	data := make([][]byte, 0, 1<<16)
	times := make([]int64, 0, 1<<16)
	c, err := capture.Open(capture.Config{TCPPorts: []uint16{uint16(cfg.port)}, Handler: func(p capture.Packet) {
		data = append(data, p.Data)
		times = append(times, p.Time.UnixNano())
	}})
	if err != nil {
		return err
	}
	if pf := inherited(cfg.profileFD); pf != nil {
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pf.Close()
	}
	w := bufio.NewWriter(stdout)
	fmt.Fprintln(w, "ready")
	w.Flush()
	sc := bufio.NewScanner(stdin)
	sc.Scan() // "stop", or EOF when the parent died
	if err := c.Sync(ctx); err != nil {
		return err
	}
	st, err := c.Close()
	if err != nil {
		return err
	}
	pprof.StopCPUProfile()
	fmt.Fprintf(w, "stats %d %d %d %d\n", st.Delivered, st.Packets-st.Markers, st.KernelDrops, st.Unstamped)
	for i, d := range data {
		fmt.Fprintf(w, "%x %d\n", d, times[i])
	}
	return w.Flush()
}

type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(ctx context.Context, port int, prof *os.File) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-role=capture", "-port="+strconv.Itoa(port))
	if prof != nil {
		cmd.ExtraFiles = []*os.File{prof} // fd 3
		cmd.Args = append(cmd.Args, "-profile-fd=3")
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	c.out.Buffer(nil, 1<<20)
	if !c.out.Scan() || c.out.Text() != "ready" {
		c.kill()
		return nil, errors.New("the capturing child did not start (see above)")
	}
	return c, nil
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}

func (c *child) stop() (*result, error) {
	r := &result{name: "tracer/capture"}
	if _, err := io.WriteString(c.in, "stop\n"); err != nil {
		return nil, err
	}
	var data [][]byte
	var times []int64
	for c.out.Scan() {
		f := strings.Fields(c.out.Text())
		if len(f) == 5 && f[0] == "stats" {
			var st [4]uint64
			for i := range st {
				st[i], _ = strconv.ParseUint(f[i+1], 10, 64)
			}
			r.kernelSeen, r.drops = st[1], st[2]
			if st[3] > 0 {
				r.note = fmt.Sprintf("%d packets without a kernel timestamp", st[3])
			}
			continue
		}
		if len(f) != 2 {
			continue
		}
		var d []byte
		if _, err := fmt.Sscanf(f[0], "%x", &d); err != nil {
			return nil, err
		}
		ts, _ := strconv.ParseInt(f[1], 10, 64)
		data, times = append(data, d), append(times, ts)
	}
	if err := c.cmd.Wait(); err != nil {
		return nil, fmt.Errorf("the capturing child: %w", err)
	}
	r.hashFrames(data, times)
	return r, nil
}

// --- tcpdump ---

type tcpdump struct {
	cmd    *exec.Cmd
	file   string
	dir    string
	stderr chan string // the rest of its stderr, at exit
}

func startTcpdump(ctx context.Context, name string, bufKiB, port int) (*tcpdump, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "capbench")
	if err != nil {
		return nil, err
	}
	t := &tcpdump{file: filepath.Join(dir, "tcpdump.pcap"), dir: dir, stderr: make(chan string, 1)}
	// --immediate-mode: without it, tcpdump stopped soon after the
	// traffic can leave its packets unwritten. -Z root: write the file as
	// root, in our directory.
	args := []string{"-i", "lo", "-n", "--immediate-mode", "-Z", "root", "-s", "262144"}
	if bufKiB > 0 {
		args = append(args, "-B", strconv.Itoa(bufKiB))
	}
	args = append(args, "-w", t.file, fmt.Sprintf("tcp port %d", port))
	t.cmd = exec.CommandContext(ctx, path, args...)
	errp, err := t.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := t.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// tcpdump says "listening on" once its filter is in place.
	br := bufio.NewReader(errp)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if strings.Contains(line, "listening on") {
			break
		}
		if err != nil {
			t.kill()
			return nil, fmt.Errorf("%s did not start: %s", path, strings.TrimSpace(head.String()))
		}
	}
	go func() {
		rest, _ := io.ReadAll(br)
		t.stderr <- string(rest)
	}()
	return t, nil
}

func (t *tcpdump) kill() {
	if t.cmd.ProcessState == nil {
		_ = t.cmd.Process.Kill()
		_ = t.cmd.Wait()
	}
	os.RemoveAll(t.dir)
}

var tcpdumpStat = regexp.MustCompile(`(\d+) packets? (captured|received by filter|dropped by kernel)`)

func (t *tcpdump) stop() (*result, error) {
	r := &result{name: "tcpdump -i lo"}
	if err := t.cmd.Process.Signal(os.Interrupt); err != nil {
		return nil, err
	}
	// NOTE: tcpdump exits with status 0 after SIGINT; any other error shows in its counts.
	_ = t.cmd.Wait()
	for _, m := range tcpdumpStat.FindAllStringSubmatch(<-t.stderr, -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		switch m[2] {
		case "dropped by kernel":
			r.drops = n
		case "received by filter":
			r.kernelSeen = n
		}
	}
	pkts, err := capture.ReadFile(t.file)
	if err != nil {
		return nil, fmt.Errorf("tcpdump's file: %w", err)
	}
	data := make([][]byte, len(pkts))
	times := make([]int64, len(pkts))
	for i, p := range pkts {
		data[i], times[i] = p.Data, p.Time.UnixNano()
	}
	r.hashFrames(data, times)
	return r, nil
}
