package quiz

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"tcptour/tracer"
)

// Options say how [Ask] asks.
type Options struct {
	// Interactive asks each question and reads the reply, a line, from
	// the reader: someone is there to answer (stdin is a terminal).
	// Otherwise each question is printed with its answer.
	Interactive bool
	// Width is the width of the output in columns; 0 means
	// [tracer.DefaultWidth].
	Width int
	// Color prints the events in colour, as the pretty printer does.
	Color bool
	// Title is the heading; "" means "Questions from your own run".
	Title string
}

// Ask prints the questions of q to out under a heading. Interactive, it
// reads a line from in after each, says whether the reply is right
// (see [Question.Check]), and gives the answer with the event that
// shows it, as the pretty printer prints it; an empty line skips a
// question (so does a reply that says it does not know, see
// [Question.Check]), and at the end of in the questions left are shown with
// their answers. A *bufio.Reader in is read as it is, so that what it
// holds past the line is kept for its next reader. When ctx is done
// while Ask waits for a line, Ask returns ctx's cause. A nil out means
// os.Stdout.
func Ask(ctx context.Context, in io.Reader, out io.Writer, q Quiz, opts Options) error {
	if out == nil {
		out = os.Stdout
	}
	width := opts.Width
	if width == 0 {
		width = tracer.DefaultWidth
	}
	width = max(width, tracer.MinWidth)
	var b strings.Builder
	title := opts.Title
	if title == "" {
		title = "Questions from your own run"
	}
	b.WriteString("\n" + title + "\n")
	if q.Why != "" {
		b.WriteString(tracer.Wrap(q.Why, 2, width))
	}
	if len(q.Questions) == 0 {
		_, err := io.WriteString(out, b.String())
		return err
	}
	var br *bufio.Reader
	if opts.Interactive && in != nil {
		if r, ok := in.(*bufio.Reader); ok {
			br = r
		} else {
			br = bufio.NewReader(in)
		}
		b.WriteString(tracer.Wrap("Type each answer and press Enter; an empty line skips the question.", 2, width))
	} else {
		b.WriteString(tracer.Wrap("Each with its answer, and the event in the trace that shows it.", 2, width))
	}
	asked := br != nil
	right, skipped := 0, 0
	for i, qu := range q.Questions {
		num := fmt.Sprintf("  %d. ", i+1)
		b.WriteString("\n" + num + strings.TrimPrefix(tracer.Wrap(qu.Text, len(num), width), strings.Repeat(" ", len(num))))
		if br == nil {
			if asked {
				skipped++ // stdin ended before it
			}
			b.WriteString(tracer.Wrap("Answer: "+qu.Answer+". "+qu.Why, len(num), width))
			b.WriteString(eventLine(qu, width, opts.Color))
			continue
		}
		b.WriteString(strings.Repeat(" ", len(num)) + "> ")
		if _, err := io.WriteString(out, b.String()); err != nil {
			return err
		}
		b.Reset()
		reply, err := readLine(ctx, br)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err != nil {
			// Nobody answers any more: the answers of the rest.
			b.WriteString("\n")
			br = nil
		}
		var say string
		switch qu.Check(reply) {
		case Right:
			right++
			say = "Right: " + qu.Answer + "."
		case Wrong:
			say = "Not quite: the answer is " + qu.Answer + "."
			if h := qu.Hint(reply); h != "" {
				say = "Not quite (" + strings.TrimSuffix(h, ".") + "): the answer is " + qu.Answer + "."
			}
		default:
			skipped++
			say = "Skipped: the answer is " + qu.Answer + "."
		}
		b.WriteString(tracer.Wrap(say+" "+qu.Why, len(num), width))
		b.WriteString(eventLine(qu, width, opts.Color))
	}
	if asked {
		score := fmt.Sprintf("%d of %d right", right, len(q.Questions))
		if skipped > 0 {
			score += fmt.Sprintf(", %d skipped", skipped)
		}
		b.WriteString("\n" + tracer.Wrap(score+".", 2, width))
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// readLine reads a line from br, or returns when ctx is done: a
// terminal's read cannot be interrupted, so it waits in a goroutine of
// its own, which ends with the line or the program.
func readLine(ctx context.Context, br *bufio.Reader) (string, error) {
	if ctx.Done() == nil {
		return br.ReadString('\n')
	}
	type line struct {
		s   string
		err error
	}
	got := make(chan line, 1)
	go func() {
		s, err := br.ReadString('\n')
		got <- line{s, err}
	}()
	select {
	case l := <-got:
		return l.s, l.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

// eventLine is the line the pretty printer prints for the event that
// answers qu, its time counted as the lesson counted it, without its
// note.
func eventLine(qu Question, width int, color bool) string {
	e := qu.Event
	e.Elapsed -= qu.stepStart
	if e.State != nil {
		s := *e.State
		s.CauseElapsed -= qu.stepStart
		e.State = &s
	}
	e.Note, e.TCP = "", nil
	var b strings.Builder
	// NOTE: a strings.Builder does not fail.
	_ = tracer.NewPrettyWith(&b, tracer.PrettyOptions{Color: color, Width: width}).Print(e)
	line, _, _ := strings.Cut(b.String(), "\n")
	return line + "\n"
}
