// Package lesson runs a tcptour lesson: it parses the common flags,
// prints the title, pauses between steps when asked, feeds the trace to
// the printers and ends with the recap and the exercises.
//
// A lesson's main.go holds its own networking code; this package holds
// everything else, so that the lesson source is the teaching material:
//
//	var lessonInfo = lesson.Lesson{Number: "01", Title: "Listening", …}
//
//	func main() { lesson.Main(lessonInfo, run) }
//
//	func run(l *lesson.Run) error {
//		l.Step("Listen", "net.Listen asks the kernel for a listening socket.")
//		ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
//		…
//	}
package lesson

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-isatty"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/cli"
	"tcptour/tracer/kernel"
	"tcptour/tracer/lab"
	// A lesson's program starts its lab as it begins, beside the rest
	// of its start (Main takes it): only lessons' programs import this
	// package.
	_ "tcptour/tracer/lab/early"
	"tcptour/tracer/link"
	"tcptour/tracer/page"
	"tcptour/tracer/quiz"
	"tcptour/tracer/wire"
)

// Lesson describes a lesson: what it is called and what it leaves the
// learner with.
type Lesson struct {
	Number string // "03": the folder under lessons/
	Title  string
	// Intro says in a sentence or two what the learner will see.
	Intro string
	// Steps is how many times the lesson calls Step; the runner shows
	// "Step 2 of 5" and checks the count.
	Steps int
	// Recap lists what to remember, one point a line.
	Recap []string
	// TryThis lists exercises: commands to run, flags to change.
	TryThis []string
	// Sysctls are settings of the lab's network that the lesson needs
	// (a shorter timer, fewer retries), each printed with its value
	// and why, so that the learner knows the lab differs from their
	// machine. They apply in the lab only: on the host (--host) the
	// machine's own settings hold.
	Sysctls []lab.Sysctl
	// HoldCommands are the commands a learner runs from another
	// terminal while the lesson holds (--hold), printed ready to paste:
	// PORT becomes the held server's port and {lab} the command that
	// joins the lab (nothing on the host), put in front of each program
	// that must run in the lesson's network (nc, ss, nstat, tshark); on
	// a link, {client} and {server} the commands that join each end.
	// Empty means nc and ss on the held port.
	HoldCommands []string
	// Link, when set, puts the lesson's client and server in network
	// namespaces of their own, joined by a link that delays, drops or
	// reorders the segments its rules pick (package tracer/link): the
	// lesson listens in Run.Server and dials in Run.Client, at
	// link.ServerAddr; the capture shows each segment at both ends; the
	// link says in the timeline what it did. Run.Link changes the rules
	// and the ends' settings between steps. A lesson with a link runs
	// only in its lab.
	Link *link.Config
	// OnLoopback, when set on a lesson with a Link, is what the lesson
	// can show on this machine's own loopback, where it cannot have its
	// lab (the system refuses it, or --host): the runner says so in one
	// line on stderr and runs it instead, its output to w.
	OnLoopback func(w io.Writer) error
}

// defaultHoldCommands are what a held lesson offers when it names none.
var defaultHoldCommands = []string{
	"{lab}nc -N 127.0.0.1 PORT",
	"{lab}ss -tn '( sport = :PORT or dport = :PORT )'",
}

// HoldCommand is cmd, one of a lesson's HoldCommands, ready to paste:
// port in place of PORT, join (the lab's join command, or "" on the
// host) in front of each program marked {lab}.
func HoldCommand(cmd, port, join string) string {
	if join != "" {
		join += " "
	}
	return strings.ReplaceAll(strings.ReplaceAll(cmd, "PORT", port), "{lab}", join)
}

// Options are the common flags of every lesson.
type Options struct {
	Step    bool // pause for Enter before each step
	JSON    bool // print JSON lines instead of the pretty trace
	NoColor bool // no colour even on a terminal
	// Hold keeps the lesson's server listening after the steps, printing
	// its trace, until the context is done (Ctrl-C).
	Hold bool
	// Capture is wire.ModeAuto (capture when permitted), ModeOn or
	// ModeOff; "" means auto.
	Capture string
	// PCAP names a pcapng file for the packets; Mermaid a file for the
	// ladder diagrams as a Mermaid sequence diagram; HTML a file for
	// the page of the run (package tracer/page).
	PCAP, Mermaid, HTML string
	// Command is the command line, for the page: ParseFlags sets it.
	Command string
	// Quiz ends the lesson, after the recap, with up to five
	// questions whose answers this run's capture and kernel view hold
	// (package tracer/quiz); QuizAsk asks them and reads the replies
	// from In, otherwise each is printed with its answer. ParseFlags
	// sets QuizAsk when stdin is a terminal.
	Quiz, QuizAsk bool

	// Out receives the lesson's output; nil means os.Stdout.
	Out io.Writer
	// In is read for Enter when Step is set, and for the replies to
	// the questions when QuizAsk is; nil means os.Stdin.
	In io.Reader
	// Stderr receives the "press Enter" prompts and the line saying why
	// there is no capture; nil means os.Stderr.
	Stderr io.Writer
	// Width is the width of the pretty output in columns: notes, recap
	// and Try this wrap to it, ladders fit in it. 0 means Out's width
	// when it is a terminal, else 80 (tracer.TerminalWidth).
	Width int
	// Host runs the lesson on the machine's own loopback, where Main
	// would run it in a lab of its own (--host).
	Host bool
	// Lab is the lab the lesson runs in (package lab's Setup), nil on
	// the host: its sockets then have the lab's network to themselves,
	// so the lesson shows what the kernel counted at each step.
	Lab *lab.Info
}

// Run is a lesson in progress, handed to the lesson's body.
type Run struct {
	lesson Lesson
	opts   Options
	ctx    context.Context
	tl     *wire.Timeline // the trace, printed in time order with the packets
	trace  *tracer.Trace
	wire   *wire.Session // nil without capture
	out    io.Writer
	stderr io.Writer
	width  int // of the pretty output, in columns
	step   int
	in     *bufio.Reader
	// prompting is set while a prompt waits for Enter: a Ctrl-C then
	// ends the prompt's line before the lesson says it stopped.
	prompting atomic.Bool
	lab       *lab.Server
	files     wire.Files // --pcap, --mermaid, --html
	// narration is what Printf printed, for the page, with its step.
	narrationMu sync.Mutex
	narration   []page.Narration
	// counted is what the lab's kernel had counted at the step's
	// start: a lesson in a lab shows what changed at each step.
	counted kernel.Counters
	// holding is set once Hold waits for Ctrl-C; held once the lesson
	// called Hold (it may hold).
	holding, held atomic.Bool
	// link joins the client's and the server's namespaces, for a
	// lesson with a Link; the counts are then each end's.
	link        *link.Link
	linkTrace   atomic.Pointer[tracer.Trace] // for the link's goroutines
	countedEnds [2]kernel.Counters
	// bulk leaves out of the pretty output most packets of the
	// connections marked with Bulk; nil for JSON.
	bulk *bulkPrinter
}

// Main runs a lesson as a program: it parses the flags in os.Args, runs
// body and exits with status 0, or 1 with the error on one line, or 2
// for a bad flag.
func Main(l Lesson, body func(*Run) error) {
	// In a lab that package early started before anything read the
	// flags, where they, or the files they name, are wrong, go without
	// a word: the program outside, which waited, then goes on the plain
	// way and says what is wrong.
	unchecked := lab.Unchecked()
	stderr := io.Writer(os.Stderr)
	if unchecked {
		stderr = io.Discard
	}
	opts, err := ParseFlags(l, os.Args[1:], stderr)
	if unchecked && (err != nil || opts.Host) {
		lab.Decline()
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if unchecked {
		if lab.UserNamespace() && (opts.PCAP != "" || opts.Mermaid != "" || opts.HTML != "") {
			// Root here may write where the learner may not: the
			// program outside checks the files with their own ids.
			lab.Decline()
		}
		files, err := wire.CreateFiles(opts.PCAP, opts.Mermaid, opts.HTML)
		if err != nil {
			lab.Decline()
		}
		files.Discard()
	}
	if opts.Host && l.Link != nil && l.OnLoopback != nil {
		os.Exit(onLoopback(l, "--host: this lesson's link needs its lab"))
	}
	// The lesson runs again in a lab of its own (package lab): a
	// network namespace, made without root where the system allows.
	if !opts.Host && !lab.Inside() && runtime.GOOS == "linux" {
		// The output files are checked here first, with the
		// learner's own ids: in a lab made in a user namespace,
		// every other user's files look like nobody's.
		files, err := wire.CreateFiles(opts.PCAP, opts.Mermaid, opts.HTML)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lesson %s: %v\n", l.Number, err)
			os.Exit(1)
		}
		files.Discard()
		code, err := lab.Reexec()
		if err == nil {
			os.Exit(code)
		}
		var no *lab.Refused
		if !errors.As(err, &no) {
			fmt.Fprintf(os.Stderr, "lesson %s: %v\n", l.Number, err)
			os.Exit(1)
		}
		if l.Link != nil && l.OnLoopback != nil {
			os.Exit(onLoopback(l, fmt.Sprintf("%v; this lesson needs its lab (two network namespaces joined by a link)", err)))
		}
		if l.Link != nil {
			fmt.Fprintf(os.Stderr, "lesson %s: %v; this lesson needs its lab (two network namespaces joined by a link), so it cannot go on\n", l.Number, err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "lesson %s: %v; going on on this machine's loopback\n", l.Number, err)
	}
	// Ctrl-C or SIGTERM cancels the context with the signal as its
	// cause: a held lesson ends then, any other stops where it is. A
	// second one ends the program at once.
	sigs := lab.Interrupts()
	if opts.Lab, err = lab.Setup(l.Sysctls); err != nil {
		// The program outside says why, and goes on without the lab.
		os.Exit(1)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		sig := <-sigs
		cancel(&Interrupted{Signal: sig})
		sig = <-sigs
		os.Exit((&Interrupted{Signal: sig}).ExitCode())
	}()
	err = Exec(ctx, l, opts, body)
	var intr *Interrupted
	switch {
	case errors.As(err, &intr):
		fmt.Fprintf(os.Stderr, "lesson %s: %v\n", l.Number, err)
		os.Exit(intr.ExitCode())
	case err != nil:
		fmt.Fprintf(os.Stderr, "lesson %s: %v\n", l.Number, err)
		os.Exit(1)
	}
}

// onLoopback runs what a lesson on a link shows on this machine's
// loopback, after a line that says why, and returns the exit status.
func onLoopback(l Lesson, why string) int {
	fmt.Fprintf(os.Stderr, "lesson %s: %s; what it can show on this machine's loopback follows\n", l.Number, why)
	if err := l.OnLoopback(os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "lesson %s: %v\n", l.Number, err)
		return 1
	}
	return 0
}

// Interrupted is the error of a lesson stopped by a signal.
type Interrupted struct{ Signal os.Signal }

func (e *Interrupted) Error() string { return "interrupted by " + signalName(e.Signal) }

// ExitCode is the shell's status for death by the signal: 128+n.
func (e *Interrupted) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// ParseFlags parses the common flags. On a bad flag it writes the error
// and the usage to stderr and returns the error.
func ParseFlags(l Lesson, args []string, stderr io.Writer) (Options, error) {
	var opts Options
	fs := flag.NewFlagSet("lesson "+l.Number, flag.ContinueOnError)
	fs.SetOutput(stderr)
	stepDefault := lab.StdinTerminal() && isatty.IsTerminal(os.Stdout.Fd())
	fs.BoolVar(&opts.Step, "step", stepDefault, "pause for Enter before each step (default on a terminal; never when stdin is not a terminal)")
	fs.BoolVar(&opts.JSON, "json", false, "print the trace as JSON lines, one object per event (see docs/trace-format.md)")
	fs.BoolVar(&opts.NoColor, "no-color", false, "no colour (also when NO_COLOR is set or stdout is not a terminal)")
	fs.BoolVar(&opts.Hold, "hold", false, "after the steps, keep the lesson's server listening and tracing until Ctrl-C, to try nc or ss against it")
	fs.StringVar(&opts.Capture, "capture", wire.ModeAuto, "capture packets on loopback: auto (when permitted: in the lab, or as root or with CAP_NET_RAW on the host), on (or fail), off")
	fs.StringVar(&opts.PCAP, "pcap", "", "save the captured packets to this pcapng `file` (for Wireshark or tshark -r), mode 0600.\nIt is written beside the path and takes its place when the lesson ends (or is stopped with Ctrl-C):\na new file, or one that replaces a regular file of yours; a failed lesson leaves what was there;\na symlink or another user's file is refused before the lesson starts")
	fs.StringVar(&opts.Mermaid, "mermaid", "", "write the ladder diagrams to this `file` as a Mermaid sequence diagram when the lesson ends;\nas with -pcap: a new file, or a regular file of yours replaced whole, never through a symlink")
	fs.StringVar(&opts.HTML, "html", "", "write the run as one HTML `file` when the lesson ends (or is stopped with Ctrl-C): steps, timeline,\neach connection's ladder and time–sequence graph, states, counters; it opens offline in any browser;\nas with -pcap: a new file, or a regular file of yours replaced whole, never through a symlink")
	fs.BoolVar(&opts.Quiz, "quiz", false, "after the recap, up to 5 questions answered by this run's own packets and kernel states;\nasked when stdin is a terminal (an empty line skips one), else printed with their answers")
	fs.BoolVar(&opts.Host, "host", false, "run on this machine's loopback, not in a lab of the lesson's own (a network namespace; without root, in a user namespace too)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./lessons/%s [flags]\n\nLesson %s · %s\n%s\n\nFlags:\n", l.Number, l.Number, l.Title, l.Intro)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return opts, err
	}
	opts.Command = cli.CommandLine("./lessons/"+l.Number, args)
	if err := wire.CheckFlags(opts.Capture, opts.PCAP, opts.Mermaid, opts.HTML); err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return opts, err
	}
	if opts.Quiz && opts.JSON {
		err := errors.New("-quiz asks a person questions and -json prints for programs: use one")
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return opts, err
	}
	if opts.Step && !lab.StdinTerminal() {
		// Nobody can press Enter: run straight through.
		opts.Step = false
	}
	// Someone there to answer: ask. Otherwise print the answers.
	opts.QuizAsk = opts.Quiz && lab.StdinTerminal()
	return opts, nil
}

// Exec runs a lesson with opts. It returns body's error, or an error when
// the output could not be written.
func Exec(ctx context.Context, l Lesson, opts Options, body func(*Run) error) error {
	out := opts.Out
	if out == nil {
		out = os.Stdout
	}
	width := opts.Width
	if width == 0 {
		width = tracer.TerminalWidth(out)
	}
	var printer tracer.Printer
	if opts.JSON {
		printer = tracer.NewJSON(out)
	} else {
		// Times since each step began: the pauses at the prompts would
		// otherwise swamp the milliseconds the lessons are about.
		printer = tracer.NewPrettyWith(out, tracer.PrettyOptions{
			Color: tracer.ColorWanted(out, opts.NoColor), Width: width, StepTimes: true})
	}
	var bulk *bulkPrinter
	if !opts.JSON && l.Link != nil {
		bulk = &bulkPrinter{Printer: printer, left: map[int]int{}, kept: map[int]int{}, closing: map[int]bool{}}
		printer = bulk
	}
	stderr := opts.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	r := &Run{
		lesson: l,
		opts:   opts,
		ctx:    ctx,
		out:    out,
		stderr: stderr,
		width:  max(width, tracer.MinWidth),
		bulk:   bulk,
	}
	// The output files are checked before the lesson starts; a lesson
	// that fails leaves what was at their paths.
	files, err := wire.CreateFiles(opts.PCAP, opts.Mermaid, opts.HTML)
	if err != nil {
		return err
	}
	defer files.Discard()
	r.files = files
	cfg := wire.Config{Mode: opts.Capture, PCAP: files.PCAP, Program: "./lessons/" + l.Number, ProgramArgs: hostArgs(opts.Host)}
	if l.Link != nil {
		if err := r.makeLink(); err != nil {
			return err
		}
		defer r.link.Close()
		cfg.Ends = r.ends()
	}
	tl, skipped, err := wire.NewTimeline("lesson", printer, out, cfg)
	if err != nil {
		return err
	}
	for _, line := range skipped {
		fmt.Fprintf(stderr, "lesson %s: %s\n", l.Number, line)
	}
	r.tl, r.trace, r.wire = tl, tl.Trace(), tl.Session()
	r.linkTrace.Store(r.trace)
	if opts.Step {
		in := opts.In
		if in == nil {
			in = os.Stdin
		}
		r.in = bufio.NewReader(in)
	}
	r.trace.Add(tracer.Event{
		Actor: "lesson", Phase: tracer.PhaseLesson,
		Text: fmt.Sprintf("tcptour · lesson %s · %s", l.Number, l.Title),
		Note: l.Intro,
	})
	r.labNotes()
	r.linkNotes()
	done := make(chan error, 1)
	go func() { done <- body(r) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		if r.holding.Load() {
			// Ctrl-C is how a held lesson ends: let it finish.
			err = <-done
			break
		}
		// Stopped mid-step: show what happened, close the capture so
		// the pcap file is complete, and leave; the lesson's goroutine
		// is abandoned and the process exits.
		return r.interrupted(ctx)
	}
	// What the link did to the last step's segments belongs to it.
	r.SyncLink()
	if r.lab != nil {
		if cerr := r.lab.Close(); err == nil {
			err = cerr
		}
	}
	r.count()
	// The states found when asked first: the end note comes after.
	// NOTE: an error here is a closed stdout; Close reports it.
	_ = r.tl.Drain()
	r.labEnd()
	packets, stats, cerr := r.tl.Close()
	if err == nil && cerr != nil {
		err = cerr
	}
	if bulk != nil {
		if berr := bulk.flush(); err == nil {
			err = berr
		}
	}
	if err != nil {
		return err
	}
	if r.step != l.Steps {
		return fmt.Errorf("the lesson ran %d steps but says it has %d", r.step, l.Steps)
	}
	if opts.Mermaid != "" {
		if err := r.tl.WriteMermaid(files.Mermaid); err != nil {
			return err
		}
	}
	if err := r.writePage(); err != nil {
		return err
	}
	if err := files.Commit(r.wire != nil, opts.Mermaid != "", opts.HTML != ""); err != nil {
		return err
	}
	if !opts.JSON {
		r.printLadders(r.tl.Events())
		r.summary(packets, stats)
		r.printList("Recap", l.Recap)
		r.printList("Try this", l.TryThis)
	}
	if opts.Quiz && !opts.JSON {
		if err := r.quiz(ctx); err != nil {
			return err
		}
	}
	if opts.Hold && !r.held.Load() {
		fmt.Fprintf(stderr, "lesson %s: --hold: this lesson keeps no server to hold; it ran to its end\n", l.Number)
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		return cause // held until Ctrl-C: the lesson finished, then says why
	}
	return nil
}

// ansi matches the colour codes of a drawing printed in colour.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// writePage writes the --html page of the trace so far, with what
// Printf printed; nothing without --html.
func (r *Run) writePage() error {
	if r.files.HTML == nil {
		return nil
	}
	r.narrationMu.Lock()
	narration := slices.Clone(r.narration)
	r.narrationMu.Unlock()
	return page.Write(r.files.HTML, page.Doc{
		Title:     fmt.Sprintf("tcptour · lesson %s · %s", r.lesson.Number, r.lesson.Title),
		Command:   r.opts.Command,
		Events:    r.tl.Events(),
		Narration: narration,
	})
}

// quiz asks, after the recap, the questions this run's events answer
// (--quiz): on a lesson with a link, about the connections the output
// showed whole, not those of a bulk transfer, unless there are no
// others. A lesson held until Ctrl-C prints them with their answers.
func (r *Run) quiz(ctx context.Context) error {
	events := r.tl.Events()
	q := quiz.Make(events)
	if r.bulk != nil {
		bulk := r.bulk.bulkConns(events)
		shown := slices.DeleteFunc(slices.Clone(events), func(e tracer.Event) bool { return bulk[e.Conn] })
		if qs := quiz.Make(shown); len(qs.Questions) > 0 {
			q = qs
		}
	}
	in := r.in
	if in == nil && r.opts.QuizAsk {
		src := r.opts.In
		if src == nil {
			src = os.Stdin
		}
		in = bufio.NewReader(src)
	}
	opts := quiz.Options{Interactive: r.opts.QuizAsk && ctx.Err() == nil, Width: r.width,
		Color: tracer.ColorWanted(r.out, r.opts.NoColor)}
	return quiz.Ask(ctx, in, r.out, q, opts)
}

// interrupted ends a lesson stopped by a signal mid-step: the trace so
// far, a note that it was interrupted, the capture closed with its file
// complete and in place (a Mermaid file is written only by a lesson
// that ran to its end). It returns the context's cause.
func (r *Run) interrupted(ctx context.Context) error {
	cause := context.Cause(ctx)
	if r.prompting.Load() {
		// Stopped at a prompt: what follows goes below it.
		fmt.Fprintln(r.stderr)
	}
	r.trace.Add(tracer.Event{Actor: "lesson", Phase: tracer.PhaseNote, Text: cause.Error(),
		Note: "The lesson stopped here. Its sockets close as the process exits; the kernel resets or finishes their connections."})
	packets, stats, err := r.tl.Close()
	if err == nil {
		err = r.writePage()
	}
	if err == nil {
		err = r.files.Commit(r.wire != nil, false, r.opts.HTML != "")
	}
	if err != nil {
		return err
	}
	if !r.opts.JSON {
		r.summary(packets, stats)
	}
	return cause
}

// summary prints how many packets were captured, and where they were
// saved, wrapped to the width.
func (r *Run) summary(packets int, stats capture.Stats) {
	var b strings.Builder
	r.tl.Summary(&b, packets, stats, r.opts.PCAP)
	var out strings.Builder
	for line := range strings.Lines(b.String()) {
		if strings.TrimSpace(line) == "" {
			out.WriteString(line)
			continue
		}
		out.WriteString(tracer.Wrap(line, 0, r.width))
	}
	// NOTE: an error here is a closed stdout; Close reported it.
	_, _ = io.WriteString(r.out, out.String())
}

// printLadders draws a ladder diagram for each connection whose packets
// were captured.
func (r *Run) printLadders(events []tracer.Event) {
	ids := wire.Conns(events, true)
	if r.bulk != nil {
		bulk := r.bulk.bulkConns(events)
		ids = slices.DeleteFunc(ids, func(id int) bool { return bulk[id] })
	}
	if len(ids) == 0 {
		return
	}
	fmt.Fprintf(r.out, "\n%s\n", tracer.Wrap("The ladder: each connection's segments, with the program's calls beside them", 0, r.width))
	for _, id := range ids {
		// NOTE: an error here is a closed stdout; Flush reported it.
		_ = wire.FitLadder(r.out, events, id, r.width)
		fmt.Fprintln(r.out)
	}
	// NOTE: as above.
	if wrote, _ := wire.AskedFootnote(r.out, events, ids, r.width); wrote {
		fmt.Fprintln(r.out)
	}
}

func (r *Run) printList(title string, items []string) {
	if len(items) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n", title)
	for _, it := range items {
		// The item's line breaks are its author's: it wraps anew to
		// the width, below its bullet.
		b.WriteString("  • " + strings.TrimPrefix(tracer.Wrap(it, 4, r.width), "    "))
	}
	// NOTE: an error here is a closed stdout; Flush already reported it.
	_, _ = io.WriteString(r.out, b.String())
}

// Step prints the events of the previous step, then the heading of the
// next one with its explanation. With --step it first waits for Enter.
func (r *Run) Step(title, text string) {
	// Everything of the step before, what the link did to the
	// segments sent in it, the states found when asked and what the
	// kernel counted included, before the pause.
	r.SyncLink()
	r.count()
	// NOTE: an error here is a closed stdout; Close reports it at the end.
	_ = r.tl.Drain()
	r.step++
	if r.in != nil {
		r.prompting.Store(true)
		// The cursor waits after the prompt, in the last column left.
		prompt := tracer.Wrap(fmt.Sprintf("[press Enter for step %d of %d: %s]", r.step, r.lesson.Steps, title), 0, r.width-1)
		fmt.Fprintf(r.stderr, "\n%s ", strings.TrimSuffix(prompt, "\n"))
		_, err := r.in.ReadString('\n')
		r.prompting.Store(false)
		if err != nil {
			r.in = nil // stdin closed: run the rest straight through
		}
	}
	r.trace.Add(tracer.Event{
		Actor: "lesson", Phase: tracer.PhaseStep,
		Text: fmt.Sprintf("Step %d of %d · %s", r.step, r.lesson.Steps, title),
		Note: text,
	})
}

// Printf prints narration in the pretty output, after the events so
// far; the JSON output leaves it out. Use it for facts that differ from
// machine to machine (a list of interfaces), which the golden tests
// cannot hold; use Note for what belongs in the trace. Each line of the
// text is indented by two spaces, as written when it fits in the
// output's [Run.Width]; a wider one wraps between words. A drawing fits
// itself to the width.
func (r *Run) Printf(format string, args ...any) {
	if r.opts.JSON && r.opts.HTML == "" {
		return
	}
	r.flush()
	if r.opts.HTML != "" {
		// On the page, after the last event so far (Events are in
		// time order).
		n := page.Narration{Step: r.step, AfterSeq: -1, Text: ansi.ReplaceAllString(fmt.Sprintf(format, args...), "")}
		if ev := r.tl.Events(); len(ev) > 0 {
			n.AfterSeq = ev[len(ev)-1].Seq
		}
		r.narrationMu.Lock()
		r.narration = append(r.narration, n)
		r.narrationMu.Unlock()
	}
	if r.opts.JSON {
		return
	}
	var b strings.Builder
	for _, line := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		if columns(line)+2 <= r.width {
			b.WriteString("  " + line + "\n")
			continue
		}
		b.WriteString(tracer.Wrap(line, 2, r.width))
	}
	// NOTE: an error here is a closed stdout; Flush reports it.
	_, _ = io.WriteString(r.out, b.String())
}

// Holds reports whether the lesson was asked to hold (--hold): a lesson
// that starts a server only to hold it checks it first.
func (r *Run) Holds() bool { return r.opts.Hold }

// Width is the width of the pretty output in columns: the terminal's,
// or 80 when it is not a terminal (see [Options.Width]).
func (r *Run) Width() int { return r.width }

// Color reports whether the pretty output is in colour: on a terminal,
// without --no-color or NO_COLOR. A drawing printed with Printf may
// then use colour and Unicode; otherwise it keeps to plain ASCII.
func (r *Run) Color() bool { return !r.opts.JSON && tracer.ColorWanted(r.out, r.opts.NoColor) }

// columns is how many columns line takes on a terminal: its runes, less
// the ANSI escape sequences that colour it (ESC [ … letter).
func columns(line string) int {
	n := 0
	for i := 0; i < len(line); {
		if line[i] == 0x1b && i+1 < len(line) && line[i+1] == '[' {
			j := i + 2
			for j < len(line) && (line[j] < 0x40 || line[j] > 0x7e) {
				j++
			}
			i = j + 1
			continue
		}
		_, size := utf8.DecodeRuneInString(line[i:])
		i += size
		n++
	}
	return n
}

// Hold, with --hold, keeps the lesson going after its steps: it says
// where the lesson's server listens and how to poke it, then prints the
// trace as it happens until Ctrl-C. The lesson's own accept loop must
// still be running. Without --hold it returns at once.
func (r *Run) Hold(addr net.Addr) {
	r.held.Store(true)
	if !r.opts.Hold {
		return
	}
	_, port, _ := net.SplitHostPort(addr.String())
	cmds := slices.Clone(r.lesson.HoldCommands)
	if len(cmds) == 0 {
		cmds = slices.Clone(defaultHoldCommands)
	}
	join, where := "", "From another terminal, try the commands below"
	switch {
	case r.link != nil:
		// Each end of the link is a network of its own.
		client, server := r.joinEnd(r.link.ClientTID()), r.joinEnd(r.link.ServerTID())
		for i, c := range cmds {
			cmds[i] = strings.ReplaceAll(strings.ReplaceAll(c, "{client}", client+" "), "{server}", server+" ")
		}
		where += ": " + client + " runs the program after it in the client's network, " + server + " in the server's"
	case r.opts.Lab != nil:
		// The lab's network is its own: another terminal joins it.
		join = r.opts.Lab.Join()
		where += ": " + join + " runs the program after it in the lesson's lab, where its sockets are"
	}
	r.trace.Add(tracer.Event{Actor: "lesson", Phase: tracer.PhaseNote,
		Text: "holding: the lesson's server listens on " + addr.String() + " until Ctrl-C",
		Note: where + "." + ncHint(cmds)})
	for _, c := range cmds {
		r.trace.Add(tracer.Event{Actor: "lesson", Phase: tracer.PhaseNote,
			Text: "in another terminal: " + HoldCommand(c, port, join)})
	}

	// Once held, a signal ends the hold and the lesson finishes: the flag
	// stays set so that Exec, however late it looks, sees it.
	r.holding.Store(true)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		r.flush()
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// labNotes says, at the start, that the lesson runs in a lab of its
// own, and what the lab changed from the kernel's defaults; and reads
// what the lab's kernel has counted so far.
func (r *Run) labNotes() {
	in := r.opts.Lab
	if in == nil {
		return
	}
	how := "as root"
	if in.User {
		how = "in a user namespace of its own, where the lesson is root over this network only, so no root is needed"
	}
	r.trace.Add(tracer.Event{Actor: "lab", Phase: tracer.PhaseNote,
		Text: "a network of the lesson's own",
		Note: labNote(how, r.link != nil)})
	if r.link != nil {
		r.joinNotes()
	} else {
		r.trace.Add(tracer.Event{Actor: "lab", Phase: tracer.PhaseNote,
			Text: "join the lab: " + in.Join(),
			Note: "Put this in front of a command to run it in the lab's network from another terminal, while the lesson runs (at a step's pause, or held with --hold): " + in.Join() + " ss -tan lists the lesson's sockets, " + in.Join() + " " + shell() + " opens a shell there."})
	}
	for _, s := range in.Sysctls {
		r.trace.Add(tracer.Event{Actor: "lab", Phase: tracer.PhaseNote,
			Text: "in this lab: " + s.String() + " (the kernel's default: " + s.Default + ")",
			Note: s.Why})
	}
	if c, err := kernel.ReadCounters(); err == nil {
		r.counted = c
	}
}

// hostNote ends the lab's first note: what --host does, or that a
// lesson on a link has no such choice.
func labNote(how string, onLink bool) string {
	if onLink {
		return "The lesson runs in a lab: a network namespace made for this run (" + how + "), and inside it two more, the client's and the server's, joined by a link (below). They carry this lesson's packets and nothing else, and their kernels count for this lesson alone. They go when the lesson ends, and their sockets, TIME_WAITs included, with them (unless a program joined to one from another terminal still runs there). " + hostNote(onLink)
	}
	return "The lesson runs in a lab: a network namespace made for this run (" + how + "), whose loopback carries this lesson's packets and nothing else, and whose kernel counts for this lesson alone. It goes when the lesson ends, and its sockets, TIME_WAITs included, with it (unless a program joined to it from another terminal still runs there). " + hostNote(onLink)
}

// hostNote says whether --host can run the lesson outside its lab.
func hostNote(onLink bool) string {
	if onLink {
		return "A lesson on a link runs only in its lab."
	}
	return "--host runs the lesson on this machine's loopback instead."
}

// labEnd says, in a lab, what goes with it when the lesson ends: the
// TIME_WAIT sockets the kernel would keep for 60 s on the host.
func (r *Run) labEnd() {
	if r.opts.Lab == nil {
		return
	}
	var count int
	var err error
	if r.link != nil {
		count = r.timeWaitEnds()
	} else {
		count, err = r.timeWaits()
	}
	if err != nil || count == 0 {
		return
	}
	n, verb := "1 socket", "goes"
	if count > 1 {
		n, verb = fmt.Sprintf("%d sockets", count), "go"
	}
	if others := lab.Others(); len(others) > 0 {
		names := make([]string, len(others))
		for i, p := range others {
			names[i] = p.String()
		}
		r.trace.Add(tracer.Event{Actor: "lab", Phase: tracer.PhaseNote,
			Text: "the lesson ends, but its lab stays while " + strings.Join(names, ", ") + " runs in it",
			Note: fmt.Sprintf("A network namespace lasts while a program is in it: %s in TIME_WAIT stay there until their 60 s are over, or until the last program in the lab ends and takes them with it.", n)})
		return
	}
	r.trace.Add(tracer.Event{Actor: "lab", Phase: tracer.PhaseNote,
		Text: "the lesson ends, and its lab with it: " + n + " in TIME_WAIT " + verb + " too",
		Note: "The kernel keeps a TIME_WAIT socket for 60 s, but a network namespace takes its sockets with it when it goes. On this machine's own network (--host), ss -tan state time-wait lists them after the lesson, until their 60 s are over."})
}

// timeWaits counts the lab's sockets in TIME_WAIT. A dump of them
// (kernel.Sockets) has the kernel walk its whole table of connections,
// every namespace's: milliseconds, twice (IPv4, IPv6), on a lesson's
// way out. So the sockets of the trace's connections are asked about
// first, all at once (microseconds): when as many of them are in
// TIME_WAIT as the lab's kernel keeps timewait sockets
// (kernel.TimeWaitCount), those are all of them. Otherwise (a program
// joined from another terminal left some, or an end no program holds
// waits in FIN_WAIT_2, which the kernel keeps in a timewait socket too)
// the dump counts them.
//
// The count is read after the questions: a socket that enters TIME_WAIT
// in between makes it larger than what they found, and the dump counts.
func (r *Run) timeWaits() (int, error) {
	var fts []tracer.FiveTuple
	seen := map[[2]netip.AddrPort]bool{}
	for _, e := range r.trace.Events() {
		k := [2]netip.AddrPort{e.Local, e.Remote}
		if !strings.HasPrefix(e.Proto, "tcp") || !e.Local.IsValid() || !e.Remote.IsValid() || seen[k] {
			continue
		}
		seen[k] = true
		fts = append(fts, tracer.FiveTuple{Proto: "tcp", Local: e.Local, Remote: e.Remote})
	}
	found := 0
	if d, err := kernel.OpenDiag(); err == nil {
		answers := make([]kernel.Answer, len(fts))
		err := d.LookupAll(fts, answers)
		d.Close()
		// The same socket, asked about by two tuples (an address
		// IPv4-mapped or not), counts once.
		socks := map[[2]netip.AddrPort]bool{}
		for _, a := range answers {
			if err == nil && a.Err == nil && a.Socket.State == kernel.TimeWait {
				socks[[2]netip.AddrPort{a.Socket.Local, a.Socket.Remote}] = true
			}
		}
		found = len(socks)
	}
	if kept, err := kernel.TimeWaitCount(); err == nil && found == kept {
		return found, nil
	}
	tw, err := kernel.Sockets(kernel.TimeWait)
	return len(tw), err
}

// shown are the counters a lesson in a lab shows when they move: the
// ones that say something a step did not show otherwise.
var shown = []string{
	"TcpAttemptFails", "TcpEstabResets", "TcpOutRsts", "TcpRetransSegs",
	"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPSynRetrans",
	"TcpExtTCPLossProbes", "TcpExtTCPTimeouts", "TcpExtTCPFastRetrans", "TcpExtTCPSackRecovery",
	"TcpExtTCPDSACKRecv", "TcpExtTCPSpuriousRTOs",
	"TcpExtTCPAbortOnData", "TcpExtTCPAbortOnClose", "TcpExtTCPAbortOnLinger", "TcpExtTCPAbortOnTimeout",
	"TcpExtTCPWinProbe", "TcpExtTCPToZeroWindowAdv", "TcpExtTCPFromZeroWindowAdv", "TcpExtTCPZeroWindowDrop",
	"TcpExtTCPRcvQDrop", "TcpExtTCPACKSkippedSeq", "TcpExtTCPKeepAlive",
}

// count adds what the lab's kernel counted since the last count, as
// events of the actor kernel: only in a lab, whose counters are the
// lesson's alone.
func (r *Run) count() {
	if r.link != nil {
		r.countEnds()
		return
	}
	if r.counted == nil {
		return
	}
	c, err := kernel.ReadCounters()
	if err != nil {
		return
	}
	now := time.Now()
	for _, ch := range c.Since(r.counted, shown) {
		r.trace.Add(tracer.Event{Time: now, Actor: "kernel", Phase: tracer.PhaseCounter, Counter: &ch})
	}
	r.counted = c
}

// shell is the learner's shell, for a command that opens one.
func shell() string {
	if s := os.Getenv("SHELL"); s != "" {
		return s
	}
	return "sh"
}

// Note adds a remark by actor to the trace, printed in time order with
// the events.
func (r *Run) Note(actor, text string) { r.trace.Note(actor, text) }

// Hooks returns hooks that record events done by actor ("client",
// "server", …) in the lesson's trace.
func (r *Run) Hooks(actor string) *tracer.Hooks { return r.tl.ActorHooks(actor) }

// flush prints the events so far, packets included, in time order.
func (r *Run) flush() {
	// NOTE: an error here is a closed stdout; Close reports it at the end.
	_ = r.tl.Flush()
}

// Trace returns the lesson's trace.
func (r *Run) Trace() *tracer.Trace { return r.trace }

// Events returns the events of the lesson so far, in time order, their
// connections numbered as the lesson's output shows them.
func (r *Run) Events() []tracer.Event { return r.tl.Events() }

// Context returns the lesson's context.
func (r *Run) Context() context.Context { return r.ctx }

// Lab returns the address of the lab DNS server (see package lab),
// starting it on first use on a free loopback port. On a link (see
// Lesson.Link) it runs at the server's end instead, at
// link.ServerAddr port 53, and answers for LinkNames: the client's
// resolver asks across the link, and both ends capture the queries.
func (r *Run) Lab() (netip.AddrPort, error) {
	if r.lab == nil && r.link != nil {
		return r.linkLab()
	}
	if r.lab == nil {
		s, err := lab.Start("127.0.0.1:0", lab.Names)
		if err != nil {
			return netip.AddrPort{}, err
		}
		r.useLab(s, "A small DNS server on loopback that answers for the lesson names (chuck.norris.test → 127.0.0.1) and says NXDOMAIN to everything else. The client's resolver is pointed at it, so the lookup is a real UDP exchange.")
	}
	return r.lab.Addr(), nil
}

// useLab makes s the lesson's lab DNS server: its port captured, and a
// note that says where it answers, with what.
func (r *Run) useLab(s *lab.Server, note string) {
	r.lab = s
	r.wire.AddUDPPort(s.Addr().Port())
	r.trace.Add(tracer.Event{Actor: "lab", Phase: tracer.PhaseNote, Local: s.Addr(),
		Text: "lab DNS server on udp " + s.Addr().String(), Note: note})
}

// hostArgs are the flags that a command printed for the learner repeats
// so that it runs where this run did: on the host, with --host.
func hostArgs(host bool) []string {
	if host {
		return []string{"--host"}
	}
	return nil
}

// ncHint says how to use an interactive nc -N, when one of the commands
// is one.
func ncHint(cmds []string) string {
	for _, c := range cmds {
		if strings.HasPrefix(strings.TrimPrefix(c, "{lab}"), "nc -N ") {
			return " With nc -N, type a line, then Ctrl-D: nc sends FIN."
		}
	}
	return ""
}
