// Package quiz asks questions whose answers a run itself holds: from a
// trace's events (the packets captured, the kernel's states) it makes
// up to five questions, each with its answer and the event, a packet
// or a change of state, that answers it. The lessons ask them after the
// recap (--quiz), and so does tracer/inspect about any capture.
//
//	q := quiz.Make(events)
//	// Asked on a terminal, printed with the answers elsewhere.
//	err := quiz.Ask(ctx, os.Stdin, os.Stdout, q, quiz.Options{Interactive: true})
//
// A question is asked only when the run shows its answer: the
// time-wait question needs the kernel's states, the numbers need the
// handshake captured. The choice is deterministic for a given run: it
// depends on the lesson's title (or, without one, on the connections'
// count), so that different lessons get different questions and a test
// can rely on them.
//
// Replies are read forgivingly ([Question.Check]): for a number, the
// first number in the reply ("port 43210", "43,210"; a time may give
// its unit, ms when it does not, and is right within a tolerance); for a
// side, "client", "the client", "client side", "the client's" or just
// "c"; for a state, its name in any case, with spaces or dashes for the
// underscore ("close wait"). An empty reply skips the question, and so
// does one that says it does not know ("?", "skip", "I don't know").
package quiz
