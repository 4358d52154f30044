// Package cli holds what tcptour's programs (the lessons, server,
// client) do alike that is not tracing: stopping on a signal with the
// shell's exit status, printing received data safely, telling whether
// two outputs are one file.
//
//	ctx := cli.OnSignal()
//	err := run(ctx, …)
//	var intr *cli.Interrupted
//	if errors.As(err, &intr) {
//		os.Exit(intr.ExitCode()) // 130 for Ctrl-C, 143 for SIGTERM
//	}
package cli

import (
	"context"
	"errors"
	"io"
	"log"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"

	"tcptour/tracer"
)

// OnSignal returns a context that Ctrl-C (SIGINT) or SIGTERM cancels,
// with an *Interrupted as its cause. After the first signal the next
// one has its default effect: a second Ctrl-C kills the program at once.
func OnSignal() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		signal.Stop(sigs)
		cancel(&Interrupted{Signal: sig})
	}()
	return ctx
}

// Interrupted is the cause of a run stopped by a signal.
type Interrupted struct{ Signal os.Signal }

func (e *Interrupted) Error() string {
	switch e.Signal {
	case os.Interrupt:
		return "interrupted by SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "interrupted by SIGTERM"
	}
	return "interrupted by " + e.Signal.String()
}

// ExitCode is the shell's status for death by the signal: 128+n, so
// 130 for SIGINT and 143 for SIGTERM.
func (e *Interrupted) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// MaxSaid is the longest text Said prints as it is.
const MaxSaid = 1 << 10

// Said returns received data as a program's own line shows it (the
// seed's DATA line), ending in a newline: as it is when it is short
// text, as the seed prints it; else as the trace shows it, quoted and
// cut, or in hex, with the count of the bytes left out
// (tracer.Preview). Binary data never reaches the terminal raw, and a
// long message does not flood it.
func Said(data []byte) string {
	if len(data) == 0 {
		return "\n"
	}
	if len(data) > MaxSaid || !tracer.IsText(data) {
		return tracer.Preview(data) + "\n"
	}
	if data[len(data)-1] == '\n' {
		return string(data) // nc sends whole lines: don't print a blank one
	}
	return string(data) + "\n"
}

// ErrInterrupted is what a run returns when it stopped because of a
// signal and has nothing more to say; Exit prints only the signal.
var ErrInterrupted = errors.New("interrupted")

// Exit ends a program whose run, given ctx from [OnSignal], returned err:
// stopped by a signal, it prints err (unless ErrInterrupted) and the
// signal on the log, and exits as the shell would say the signal killed
// it (130, 143); otherwise it prints err and exits 1, or returns when
// err is nil.
func Exit(ctx context.Context, err error) {
	var intr *Interrupted
	if errors.As(context.Cause(ctx), &intr) {
		if err != nil && !errors.Is(err, ErrInterrupted) {
			log.Print(err)
		}
		log.Print(intr)
		os.Exit(intr.ExitCode())
	}
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// CommandLine is the command that runs the program pkg ("./server")
// with args, each quoted for a shell as needed: "go run ./server -addr
// 127.0.0.1:7000".
func CommandLine(pkg string, args []string) string {
	cmd := "go run " + pkg
	for _, a := range args {
		cmd += " " + Quote(a)
	}
	return cmd
}

// Quote returns arg as a POSIX shell reads it back: as it is when it
// holds only letters, digits and -_./=:,+@%, else in single quotes
// (for the command line a page or a report shows).
func Quote(arg string) string {
	if arg != "" && strings.Trim(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return arg
	}
	return "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'"
}

// SameFile reports whether a and b write to the same file: the same
// writer, or two *os.File open on one file (a terminal, a pipe, a file:
// `2>&1`). Where it cannot tell (a Stat fails), it says they do.
func SameFile(a, b io.Writer) bool {
	fa, oka := a.(*os.File)
	fb, okb := b.(*os.File)
	if !oka || !okb {
		// Writers of the program's own: the same one, or not. (Values
		// == cannot compare, a func, or a struct holding one, are not
		// the same.)
		va := reflect.ValueOf(a)
		return va.IsValid() && va.Type() == reflect.TypeOf(b) && va.Comparable() && a == b
	}
	if fa == fb {
		return true
	}
	sa, err := fa.Stat()
	if err != nil {
		return true
	}
	sb, err := fb.Stat()
	if err != nil {
		return true
	}
	return os.SameFile(sa, sb)
}
