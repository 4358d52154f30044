// Command practice holds the tour's exercises: small Go programs the
// learner writes, each checked by running it in a lab of its own, its
// packets captured and its sockets asked of the kernel, so that the
// check judges what happened on the wire and in the kernel, not only
// what the program printed.
//
//	go run ./lessons/practice                  the exercises and your progress
//	go run ./lessons/practice check            check the next one you have not done
//	go run ./lessons/practice check --watch    … and again each time you save
//	go run ./lessons/practice hint NAME        the next hint
//
// Each exercise is a folder under exercises/: main.go is the learner's
// file (the task at the top, a TODO where the code goes), solution/
// the reference solution, wrong/ plausible wrong solutions that the
// check must turn down (the tests check them all). docs/practice.md
// says how to work through them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/fatih/color"

	"tcptour/tracer"
	"tcptour/tracer/lab"
	"tcptour/tracer/wire"
)

// The environment of the check run again in the lab: the program built
// outside, and the exercise.
const (
	envBinary   = "TCPTOUR_PRACTICE_BINARY"
	envExercise = "TCPTOUR_PRACTICE_EXERCISE"
)

// options are the command line's flags.
type options struct {
	watch, solution, verbose, host, noColor bool
	from, pcap                              string
	color                                   bool
	width                                   int
}

const usage = `usage:
  go run ./lessons/practice                 the exercises, your progress, what to do next
  go run ./lessons/practice list            one exercise a line: name, state, lesson, title
  go run ./lessons/practice check [NAME]    check an exercise (by default the next one not done)
  go run ./lessons/practice hint NAME       the next hint for an exercise
  go run ./lessons/practice reset [NAME]    forget your progress (on one exercise, or all)

Flags of check:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var opts options
	fs := flag.NewFlagSet("practice", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&opts.watch, "watch", false, "check again each time a Go file of the exercise's folder is saved, until Ctrl-C")
	fs.BoolVar(&opts.solution, "solution", false, "check the reference solution (the folder solution/) instead of your file")
	fs.StringVar(&opts.from, "from", "", "check the program in this `folder` instead of the exercise's (a copy of main.go elsewhere, one of wrong/)")
	fs.StringVar(&opts.pcap, "pcap", "", "save the check's packets to this pcapng `file` (for tracer/inspect, Wireshark or tshark), mode 0600:\na new file, or one that replaces a regular file of yours; never through a symlink")
	fs.BoolVar(&opts.verbose, "v", false, "print the whole trace as the check runs")
	fs.BoolVar(&opts.host, "host", false, "check on this machine's loopback, not in a lab of its own")
	fs.BoolVar(&opts.noColor, "no-color", false, "no colour (also when NO_COLOR is set or stdout is not a terminal)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	// Flags may come before or after the exercise's name.
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "practice: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if len(names) > 1 {
		return bad("one exercise at a time, not %s", strings.Join(names, " "))
	}
	if opts.solution && opts.from != "" {
		return bad("--solution and --from name two programs: give one")
	}
	if cmd != "check" && (opts.watch || opts.solution || opts.from != "" || opts.verbose || opts.host || opts.pcap != "") {
		return bad("--watch, --solution, --from, --pcap, -v and --host are flags of check")
	}
	opts.color = tracer.ColorWanted(stdout, opts.noColor)
	opts.width = max(tracer.TerminalWidth(stdout), tracer.MinWidth)
	name := ""
	if len(names) == 1 {
		name = names[0]
	}

	if lab.Inside() {
		// The check, run again in its lab by check below.
		ex, err := find(os.Getenv(envExercise))
		if err != nil {
			fmt.Fprintln(stderr, "practice:", err)
			return 1
		}
		// Ctrl-C, as the lab passes it on, ends the check: the
		// learner's program is stopped with it.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sigs := lab.Interrupts()
		go func() {
			<-sigs
			cancel()
		}()
		return inside(ctx, ex, opts)
	}

	prog, perr := loadProgress()
	switch cmd {
	case "":
		if name != "" {
			return bad("unexpected argument %q", name)
		}
		overview(stdout, prog, perr, opts)
		return 0
	case "list":
		if name != "" {
			return bad("list takes no exercise name")
		}
		list(stdout, prog)
		return 0
	case "hint":
		if name == "" {
			return bad("hint needs an exercise's name")
		}
		return hint(stdout, stderr, prog, name)
	case "reset":
		return reset(stdout, stderr, prog, name)
	case "check":
		return check(stdout, stderr, prog, perr, name, opts)
	}
	return bad("unknown command %q", cmd)
}

// moduleRoot is the folder of tcptour's go.mod, found from the current
// folder up: the exercises are read from there.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module tcptour") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it in your copy of tcptour (the folder with its go.mod, or one below it)")
		}
		dir = parent
	}
}

// exerciseDir is the folder of ex's program, relative to the current
// folder where it can be: what the learner edits.
func exerciseDir(ex *Exercise, sub string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return shortPath(filepath.Join(root, "lessons", "practice", "exercises", ex.Name, sub)), nil
}

// shortPath is path relative to the current folder when it lies below
// it, else as given.
func shortPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// check builds and checks an exercise: once, or with --watch again on
// every save. It returns the exit status: 0 when the last check held.
func check(stdout, stderr io.Writer, prog *progress, perr error, name string, opts options) int {
	var ex *Exercise
	var err error
	if name == "" {
		ex = prog.next()
		if ex == nil {
			fmt.Fprintf(stdout, "Every exercise is done (%d of %d). check NAME checks one again; reset forgets your progress.\n", len(exercises), len(exercises))
			return 0
		}
	} else if ex, err = find(name); err != nil {
		fmt.Fprintln(stderr, "practice:", err)
		return 1
	}
	dir := opts.from
	switch {
	case opts.solution:
		dir, err = exerciseDir(ex, "solution")
	case dir == "":
		dir, err = exerciseDir(ex, "")
	}
	if err != nil {
		fmt.Fprintln(stderr, "practice:", err)
		return 1
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(stderr, "practice: %s is not a folder with a Go program\n", dir)
		return 1
	}
	// The file is checked here, with the learner's own ids (in a lab
	// made in a user namespace, every other user's files look like
	// nobody's), and made again by the check.
	files, err := wire.CreateFiles(opts.pcap, "", "")
	if err != nil {
		fmt.Fprintln(stderr, "practice:", err)
		return 1
	}
	files.Discard()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !opts.watch {
		return checkOnce(ctx, stdout, stderr, prog, perr, ex, dir, opts)
	}
	// Watching from before the first check: a save made while a
	// check runs is seen when it ends.
	w, err := newWatcher(dir)
	if err != nil {
		fmt.Fprintln(stderr, "practice: watching:", err)
		return 1
	}
	defer w.close()
	code := checkOnce(ctx, stdout, stderr, prog, perr, ex, dir, opts)
	for {
		fmt.Fprintf(stdout, "\nWatching %s: each save checks again (Ctrl-C to stop).\n", dir)
		file, err := w.next(ctx)
		if ctx.Err() != nil {
			return code
		}
		if err != nil {
			fmt.Fprintln(stderr, "practice: watching:", err)
			return 1
		}
		fmt.Fprintf(stdout, "\n%s saved at %s: checking again\n", filepath.Join(dir, file), time.Now().Format("15:04:05"))
		code = checkOnce(ctx, stdout, stderr, prog, perr, ex, dir, opts)
	}
}

// checkOnce builds the program in dir and checks it, in a lab of its
// own where the system allows one; it prints the verdict, records
// progress (for the learner's own file only) and returns the exit status.
func checkOnce(ctx context.Context, stdout, stderr io.Writer, prog *progress, perr error, ex *Exercise, dir string, opts options) int {
	mine := !opts.solution && opts.from == ""
	what := "your program"
	switch {
	case opts.solution:
		what = "the reference solution"
	case !mine:
		what = "the program"
	}
	fmt.Fprintf(stdout, "Exercise %s · %s (after lesson %s)\nChecking %s in %s.\n", ex.Name, ex.Title, ex.Lesson, what, dir)
	tmp, err := os.MkdirTemp("", "tcptour-practice-")
	if err != nil {
		fmt.Fprintln(stderr, "practice:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin, err := build(dir, tmp)
	var be *buildError
	if errors.As(err, &be) {
		fmt.Fprintf(stdout, "\n%s\n\n  %s %s does not compile; the compiler's message is above.\n", be.out, mark(false, opts), dir)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "practice:", err)
		return 1
	}

	var r result
	code := -1
	if !opts.host && runtime.GOOS == "linux" {
		os.Setenv(envBinary, bin)
		os.Setenv(envExercise, ex.Name)
		code, err = lab.Reexec()
		var no *lab.Refused
		switch {
		case errors.As(err, &no):
			fmt.Fprintf(stdout, "(%v; checking on this machine's loopback)\n", err)
			code = -1
		case err != nil:
			fmt.Fprintln(stderr, "practice:", err)
			return 1
		}
	}
	if code == -1 {
		r, err = runCheck(ctx, ex, bin, nil, stdout, opts)
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "practice: %s: interrupted; your program was stopped\n", ex.Name)
			return 130
		}
		if err != nil {
			fmt.Fprintf(stderr, "practice: %s: %v\n", ex.Name, err)
			return 1
		}
		printResult(stdout, ex, r, opts)
		code = 1
		if r.holds {
			code = 0
		}
	}
	if code != 0 && code != 1 {
		return code // stopped by a signal
	}
	if code == 0 {
		if !mine {
			fmt.Fprintf(stdout, "\n%s holds (your progress is kept as it was).\n", strings.ToUpper(what[:1])+what[1:])
			return 0
		}
		prog.markDone(ex)
		if err := prog.save(); err != nil {
			fmt.Fprintf(stderr, "practice: your progress could not be kept: %v\n", err)
		} else if perr != nil {
			fmt.Fprintf(stderr, "practice: %v\n", perr)
		}
		fmt.Fprintf(stdout, "\nDone: %d of %d exercises.", prog.doneCount(), len(exercises))
		if n := prog.next(); n != nil {
			fmt.Fprintf(stdout, " Next: %s — %s\n  edit %s, then: go run ./lessons/practice check\n", n.Name, n.Title, filepath.Join(filepath.Dir(dir), n.Name, "main.go"))
		} else {
			fmt.Fprintln(stdout, " That was the last: well done.")
		}
		return 0
	}
	n := prog.hintsSeen(ex)
	if n == 0 {
		n = 1
		if mine {
			prog.setHints(ex, 1)
			// NOTE: a progress file that cannot be written only costs
			// the hint count; the check's verdict stands.
			_ = prog.save()
		}
	}
	printHint(stdout, ex, n, opts.width)
	return 1
}

// printResult prints the facts the check verified, then, when it
// failed, why and what it saw.
func printResult(w io.Writer, ex *Exercise, r result, opts options) {
	fmt.Fprintln(w)
	for _, f := range r.facts {
		fmt.Fprint(w, "  "+mark(true, opts)+" "+strings.TrimPrefix(tracer.Wrap(f, 4, opts.width), "    "))
	}
	if r.holds {
		fmt.Fprint(w, "  "+mark(true, opts)+" "+strings.TrimPrefix(tracer.Wrap("The exercise "+ex.Name+" holds.", 4, opts.width), "    "))
		return
	}
	fmt.Fprint(w, "  "+mark(false, opts)+" "+strings.TrimPrefix(tracer.Wrap(r.failed, 4, opts.width), "    "))
	fmt.Fprint(w, r.evidence)
}

// mark is ✓ or ✗, coloured on a terminal.
func mark(ok bool, opts options) string {
	c := color.New(color.FgRed, color.Bold)
	s := "✗"
	if ok {
		c, s = color.New(color.FgGreen, color.Bold), "✓"
	}
	if !opts.color {
		return s
	}
	c.EnableColor()
	return c.Sprint(s)
}

// printHint prints hint n (from 1) of ex.
func printHint(w io.Writer, ex *Exercise, n, width int) {
	n = min(n, len(ex.Hints))
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s", tracer.Wrap(fmt.Sprintf("Hint %d of %d: %s", n, len(ex.Hints), ex.Hints[n-1]), 2, width)[2:])
	if n < len(ex.Hints) {
		fmt.Fprintf(w, "  (go run ./lessons/practice hint %s for the next)\n", ex.Name)
	}
}

// hint shows the next hint of an exercise.
func hint(stdout, stderr io.Writer, prog *progress, name string) int {
	ex, err := find(name)
	if err != nil {
		fmt.Fprintln(stderr, "practice:", err)
		return 1
	}
	n := min(prog.hintsSeen(ex)+1, len(ex.Hints))
	prog.setHints(ex, n)
	if err := prog.save(); err != nil {
		fmt.Fprintf(stderr, "practice: your progress could not be kept: %v\n", err)
	}
	printHint(stdout, ex, n, max(tracer.TerminalWidth(stdout), tracer.MinWidth))
	if n == len(ex.Hints) {
		fmt.Fprintf(stdout, "  That is the last hint. The reference solution is in %s.\n", filepath.Join("lessons", "practice", "exercises", ex.Name, "solution", "main.go"))
	}
	return 0
}

// reset forgets the progress on one exercise, or on all.
func reset(stdout, stderr io.Writer, prog *progress, name string) int {
	if name != "" {
		ex, err := find(name)
		if err != nil {
			fmt.Fprintln(stderr, "practice:", err)
			return 1
		}
		prog.forget(ex)
	} else {
		prog.forgetAll()
	}
	if err := prog.save(); err != nil {
		fmt.Fprintf(stderr, "practice: %v\n", err)
		return 1
	}
	what := "every exercise"
	if name != "" {
		what = name
	}
	fmt.Fprintf(stdout, "Progress on %s forgotten (%s).\n", what, prog.path)
	return 0
}

// list prints one exercise a line, its name first.
func list(w io.Writer, prog *progress) {
	next := prog.next()
	for _, ex := range exercises {
		fmt.Fprintf(w, "%-20s %-12s lesson %s  %s\n", ex.Name, prog.state(ex, next), ex.Lesson, ex.Title)
	}
}

// overview prints the exercises with the learner's progress and what
// to do next.
func overview(w io.Writer, prog *progress, perr error, opts options) {
	fmt.Fprint(w, tracer.Wrap("tcptour practice: each exercise is a small Go program you write. The check builds it, runs it in a lab of its own with the other side played by traced sockets, captures every packet and asks the kernel about its sockets: it judges what happened on the wire and in the kernel.", 0, opts.width))
	fmt.Fprintf(w, "\n  %-3s %-20s %-7s %-11s %s\n", "#", "exercise", "lesson", "state", "what your program does")
	next := prog.next()
	for i, ex := range exercises {
		fmt.Fprintf(w, "  %-3d %-20s %-7s %-11s %s\n", i+1, ex.Name, ex.Lesson, prog.state(ex, next), ex.Title)
	}
	fmt.Fprintf(w, "\nDone: %d of %d.", prog.doneCount(), len(exercises))
	if perr != nil {
		fmt.Fprintf(w, " (%v)", perr)
	}
	if next == nil {
		fmt.Fprintln(w, " Every exercise is done; check NAME checks one again, reset forgets your progress.")
		return
	}
	dir, err := exerciseDir(next, "")
	if err != nil {
		dir = filepath.Join("lessons", "practice", "exercises", next.Name)
	}
	fmt.Fprintf(w, "\n\nNext: %s. Edit %s, then\n  go run ./lessons/practice check            to check it (check --watch: again on every save)\n  go run ./lessons/practice hint %s   when stuck\n",
		next.Name, filepath.Join(dir, "main.go"), next.Name)
	fmt.Fprintln(w, "\nHow it works: docs/practice.md")
}
