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

	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/outfile"
	"tcptour/tracer/wire"
)

func run(ctx context.Context, cfg config, stdin io.Reader, stdout io.Writer) error {
	switch cfg.role {
	case "capture":
		return captureChild(ctx, cfg, stdin, stdout)
	case "bench":
		return bench(ctx, cfg, stdout, [2]*os.File{inherited(cfg.profileFD), inherited(cfg.pipelineProfileFD)})
	case "":
	default:
		return fmt.Errorf("-role %q: unknown", cfg.role)
	}
	// The profiles' files are checked before the burst, and put in
	// place only after a run that went well (see tracer/outfile). The
	// capturing children write them, through file descriptors they
	// inherit.
	var profs [2]*outfile.File
	for i, p := range []struct{ flag, path string }{{"cpuprofile", cfg.cpuprofile}, {"pipeline-cpuprofile", cfg.pipelineCPUProfile}} {
		if p.path == "" {
			continue
		}
		var err error
		if profs[i], err = outfile.Create(p.flag, p.path, 0o644); err != nil {
			return err
		}
		defer profs[i].Discard()
	}
	commit := func() error {
		if err := profs[0].Commit(); err != nil {
			return err
		}
		return profs[1].Commit()
	}
	if !cfg.netns {
		if err := bench(ctx, cfg, stdout, [2]*os.File{profs[0].OSFile(), profs[1].OSFile()}); err != nil {
			return err
		}
		return commit()
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
	for i, flag := range []string{"-profile-fd", "-pipeline-profile-fd"} {
		if profs[i] != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, profs[i].OSFile())
			cmd.Args = append(cmd.Args, fmt.Sprintf("%s=%d", flag, 2+len(cmd.ExtraFiles)))
		}
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
	return commit()
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

// bench runs the burst and the captures: this package's capture writing
// pcapng against tcpdump, then, with cfg.pipeline, the same burst again
// with a lesson's pipeline against tcpdump (on their own, so that the
// pipeline's work does not take the CPU the others need). profs, where
// not nil, are the files the capturing children write their CPU profiles
// to (the pcapng child's, the pipeline's).
func bench(ctx context.Context, cfg config, stdout io.Writer, profs [2]*os.File) error {
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

	// Every capture writes its file here; all are read back at the end
	// of their burst.
	dir, err := os.MkdirTemp("", "capbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	modes := []string{modePcapng}
	if cfg.pipeline {
		modes = append(modes, modePipeline)
	}
	for i, mode := range modes {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := round(ctx, cfg, stdout, ln, where, mode, dir, profs[i]); err != nil {
			return err
		}
	}
	return nil
}

// round runs one burst, captured by a child in mode and by tcpdump,
// and prints what they saw.
func round(ctx context.Context, cfg config, stdout io.Writer, ln net.Listener, where, mode, dir string, prof *os.File) error {
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	dir = filepath.Join(dir, mode)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	ours, err := startChild(ctx, cfg, mode, dir, port, prof)
	if err != nil {
		return err
	}
	defer ours.kill()
	var td *tcpdump
	if cfg.tcpdump != "" {
		td, err = startTcpdump(ctx, cfg.tcpdump, cfg.tcpdumpBuf, port, dir)
		if err != nil {
			fmt.Fprintf(stdout, "without tcpdump: %v\n", err)
			td = nil
		} else {
			defer td.kill()
		}
	}
	pids := []int{ours.cmd.Process.Pid}
	if td != nil {
		pids = append(pids, td.cmd.Process.Pid)
	}

	before, err := tcpCounters()
	if err != nil {
		return err
	}
	cpu0 := make([]time.Duration, len(pids))
	for i, pid := range pids {
		if cpu0[i], err = cpuTime(pid); err != nil {
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
	cpu1 := make([]time.Duration, len(pids))
	for i, pid := range pids {
		cpu1[i] = settle(ctx, pid)
	}
	expected := (after["OutSegs"] + after["RetransSegs"]) - (before["OutSegs"] + before["RetransSegs"])

	r, err := ours.stop()
	if err != nil {
		return err
	}
	results := []*result{r}
	if td != nil {
		r, err := td.stop()
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	for i, r := range results {
		r.cpu = cpu1[i] - cpu0[i]
	}

	if mode == modePipeline {
		fmt.Fprintf(stdout, "lesson pipeline: capture, decode, annotate and the pcapng file, as a lesson's --pcap; the trace printed as %s to a file every 100 ms or 1,024 events, as the server prints\n", cfg.print)
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
	var ref *result
	if td != nil {
		ref = results[1]
	}
	printTable(stdout, expected, results, ref)
	return nil
}

// printTable prints what each capture saw, and how each compares with
// ref (tcpdump's, or nil).
func printTable(w io.Writer, expected uint64, rs []*result, ref *result) {
	row := func(label string, f func(r *result) string) {
		fmt.Fprintf(w, "%-28s", label)
		for _, r := range rs {
			fmt.Fprintf(w, " %18s", f(r))
		}
		fmt.Fprintln(w)
	}
	row("", func(r *result) string { return r.name })
	row("packets expected", func(*result) string { return strconv.FormatUint(expected, 10) })
	row("captured (in its file)", func(r *result) string { return strconv.Itoa(r.captured) })
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
	if ref != nil && perPkt(ref) > 0 {
		row("CPU per packet vs tcpdump", func(r *result) string { return fmt.Sprintf("%.2f×", perPkt(r)/perPkt(ref)) })
		// The same frames? Compare the sets and the timestamps.
		fmt.Fprintln(w)
		for _, r := range rs {
			if r == ref {
				continue
			}
			var common int
			var skews []time.Duration
			for h, ts := range r.frames {
				if ts2, ok := ref.frames[h]; ok {
					common++
					skews = append(skews, time.Duration(ts-ts2).Abs())
				}
			}
			slices.Sort(skews)
			fmt.Fprintf(w, "%s and tcpdump's files: %d frames in both; only in %s: %d; only in tcpdump's: %d",
				r.name, common, r.name, r.unique-common, ref.unique-common)
			if len(skews) > 0 {
				fmt.Fprintf(w, "; timestamp difference of the same frame: median %v, max %v",
					skews[len(skews)/2], skews[len(skews)-1])
			}
			fmt.Fprintln(w)
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

// readFile reads a capture's file back, and counts its distinct frames
// and duplicates.
func (r *result) readFile(path string) error {
	pkts, err := capture.ReadFile(path)
	if err != nil {
		return err
	}
	r.frames = make(map[uint64]int64, len(pkts))
	r.captured = len(pkts)
	for _, p := range pkts {
		h := frameHash(p.Data)
		if _, ok := r.frames[h]; ok {
			r.dups++
			continue
		}
		r.frames[h] = p.Time.UnixNano()
	}
	r.unique = len(r.frames)
	return nil
}

// --- this package's capture, in a child process ---

// The children's modes.
const (
	// modePcapng captures and writes a pcapng file, as tcpdump -w
	// does: the writer and the file of a lesson's --pcap (tracer/wire's
	// Session), without the trace.
	modePcapng = "pcapng"
	// modePipeline runs what a lesson runs for each packet: capture,
	// decode, annotate and record (tracer/wire's Session, writing the
	// pcapng file too), and print (the timeline's printer, to a file).
	modePipeline = "pipeline"
)

// captureChild is the capturing process: it captures port until told
// to stop on stdin, then puts its pcapng file in place and writes its
// counts.
func captureChild(ctx context.Context, cfg config, stdin io.Reader, stdout io.Writer) error {
	if cfg.port <= 0 || cfg.port > 65535 {
		return fmt.Errorf("-port %d", cfg.port)
	}
	// The file, as a lesson's --pcap: checked and made beside its path,
	// put in place at the end.
	files, err := wire.CreateFiles(cfg.pcap, "", "")
	if err != nil {
		return err
	}
	defer files.Discard()
	var stop func() (capture.Stats, int, error)
	var traceOut *os.File
	switch cfg.mode {
	case modePcapng:
		stop, err = startPcapng(cfg, files)
	case modePipeline:
		if traceOut, err = os.OpenFile(cfg.trace, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return err
		}
		defer traceOut.Close()
		stop, err = startPipeline(cfg, files, traceOut)
	default:
		err = fmt.Errorf("-mode %q: unknown", cfg.mode)
	}
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
	st, events, err := stop()
	if err != nil {
		return err
	}
	pprof.StopCPUProfile()
	if err := files.Commit(true, false, false); err != nil {
		return err
	}
	var traced int64
	if traceOut != nil {
		if fi, err := traceOut.Stat(); err == nil {
			traced = fi.Size()
		}
	}
	fmt.Fprintf(w, "stats %d %d %d %d %d %d\n", st.Delivered, st.Packets-st.Markers, st.KernelDrops, st.Unstamped, events, traced)
	return w.Flush()
}

// startPcapng starts a capture that writes each packet to the pcapng
// file, as tracer/wire's Session does for --pcap, and returns the
// function that stops it.
func startPcapng(cfg config, files wire.Files) (func() (capture.Stats, int, error), error) {
	fw, err := capture.NewWriter(files.PCAP, files.PCAP.Name(), layers.LinkTypeEthernet)
	if err != nil {
		return nil, err
	}
	var werr error // the first error writing; the capture's goroutine's until Close
	c, err := capture.Open(capture.Config{TCPPorts: []uint16{uint16(cfg.port)},
		Handler: func(p capture.Packet) {
			if werr == nil {
				werr = fw.Write(p)
			}
		},
		// As the Session: written out after each batch the capture
		// hands over, and before a Sync returns.
		Flush: func() {
			if werr == nil {
				werr = fw.Flush()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return func() (capture.Stats, int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		serr := c.Sync(ctx)
		st, err := c.Close()
		return st, 0, errors.Join(serr, err, werr, fw.Close())
	}, nil
}

// startPipeline starts a lesson's pipeline: a timeline that captures
// port, writes the packets to the pcapng file, decodes and annotates
// them and prints the trace to out every 100 ms (or 1,024 events), as
// the server does. It returns the function that stops it, which returns
// the packets in the trace.
func startPipeline(cfg config, files wire.Files, out io.Writer) (func() (capture.Stats, int, error), error) {
	var printer tracer.Printer
	switch cfg.print {
	case "json":
		printer = tracer.NewJSON(out)
	case "pretty":
		printer = tracer.NewPrettyWith(out, tracer.PrettyOptions{Width: 100})
	default:
		return nil, fmt.Errorf("-print %q: want json or pretty", cfg.print)
	}
	tl, _, err := wire.NewTimeline("capbench", printer, io.Discard, wire.Config{
		Mode: wire.ModeOn, PCAP: files.PCAP, History: tracer.NoHistory, Program: "./tracer/capbench"})
	if err != nil {
		return nil, err
	}
	tl.Session().AddTCPPort(uint16(cfg.port))
	// The server prints every 100 ms, or sooner once 1,024 events wait.
	stopFlushing := tl.FlushEvery(100 * time.Millisecond)
	return func() (capture.Stats, int, error) {
		stopFlushing()
		packets, st, err := tl.Close()
		return st, packets, err
	}, nil
}

type child struct {
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	pcap  string // the pcapng file it writes
	trace string // the trace it prints, in modePipeline
}

// startChild starts a capturing child in mode, writing its files in
// dir.
func startChild(ctx context.Context, cfg config, mode, dir string, port int, prof *os.File) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &child{name: "capture → pcapng", pcap: filepath.Join(dir, mode+".pcapng")}
	args := []string{"-role=capture", "-mode=" + mode, "-port=" + strconv.Itoa(port), "-pcap=" + c.pcap}
	if mode == modePipeline {
		c.name = "lesson pipeline"
		c.trace = filepath.Join(dir, "trace."+cfg.print)
		args = append(args, "-trace="+c.trace, "-print="+cfg.print)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
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
	c.cmd, c.in, c.out = cmd, in, bufio.NewScanner(outp)
	if !c.out.Scan() || c.out.Text() != "ready" {
		c.kill()
		return nil, fmt.Errorf("the capturing child (%s) did not start (see above)", mode)
	}
	return c, nil
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}

// stop stops the child, then reads its file back.
func (c *child) stop() (*result, error) {
	r := &result{name: c.name}
	if _, err := io.WriteString(c.in, "stop\n"); err != nil {
		return nil, err
	}
	for c.out.Scan() {
		f := strings.Fields(c.out.Text())
		if len(f) != 7 || f[0] != "stats" {
			continue
		}
		var st [6]uint64
		for i := range st {
			st[i], _ = strconv.ParseUint(f[i+1], 10, 64)
		}
		r.kernelSeen, r.drops = st[1], st[2]
		if st[3] > 0 {
			r.note = fmt.Sprintf("%d packets without a kernel timestamp", st[3])
		}
		if c.trace != "" {
			r.note = fmt.Sprintf("%d packets in the trace, printed to a file of %d bytes", st[4], st[5])
		}
	}
	if err := c.cmd.Wait(); err != nil {
		return nil, fmt.Errorf("the capturing child: %w", err)
	}
	if err := r.readFile(c.pcap); err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	return r, nil
}

// --- tcpdump ---

type tcpdump struct {
	cmd    *exec.Cmd
	file   string
	stderr chan string // the rest of its stderr, at exit
}

// startTcpdump starts tcpdump writing its file in dir.
func startTcpdump(ctx context.Context, name string, bufKiB, port int, dir string) (*tcpdump, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, err
	}
	t := &tcpdump{file: filepath.Join(dir, "tcpdump.pcap"), stderr: make(chan string, 1)}
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
}

var tcpdumpStat = regexp.MustCompile(`(\d+) packets? (captured|received by filter|dropped by kernel)`)

func (t *tcpdump) stop() (*result, error) {
	r := &result{name: "tcpdump -w"}
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
	if err := r.readFile(t.file); err != nil {
		return nil, fmt.Errorf("tcpdump's file: %w", err)
	}
	return r, nil
}
