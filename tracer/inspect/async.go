package main

import "tcptour/tracer"

// asyncPrinter prints in a goroutine of its own the batches a trace
// hands it, so that formatting and writing run beside reading, decoding
// and annotating (on another CPU where there is one). It keeps at most
// two batches: a third waits for the first to be printed.
type asyncPrinter struct {
	p    tracer.Printer
	ch   chan []tracer.Event
	free chan []tracer.Event
	done chan struct{}
	err  error // the printer's first error; read after done is closed, or by the printing goroutine
	errc chan error
}

func newAsyncPrinter(p tracer.Printer) *asyncPrinter {
	a := &asyncPrinter{p: p, ch: make(chan []tracer.Event, 1), free: make(chan []tracer.Event, 2),
		done: make(chan struct{}), errc: make(chan error, 1)}
	go a.run()
	return a
}

func (a *asyncPrinter) run() {
	defer close(a.done)
	var failed bool
	for batch := range a.ch {
		if !failed {
			if err := tracer.PrintBatch(a.p, batch); err != nil {
				failed = true
				a.errc <- err
			}
		}
		select {
		case a.free <- batch[:0]:
		default:
		}
	}
}

// PrintBatch hands a copy of events to the printing goroutine. It
// returns the error of an earlier batch, if printing one failed (a
// closed pipe): the caller should stop.
func (a *asyncPrinter) PrintBatch(events []tracer.Event) error {
	if err := a.failed(); err != nil {
		return err
	}
	var buf []tracer.Event
	select {
	case buf = <-a.free:
	default:
	}
	a.ch <- append(buf, events...)
	return nil
}

// Print prints one event, as PrintBatch.
func (a *asyncPrinter) Print(e tracer.Event) error { return a.PrintBatch([]tracer.Event{e}) }

func (a *asyncPrinter) failed() error {
	if a.err == nil {
		select {
		case a.err = <-a.errc:
		default:
		}
	}
	return a.err
}

// Close waits until every batch is printed, and returns the first error.
func (a *asyncPrinter) Close() error {
	close(a.ch)
	<-a.done
	return a.failed()
}
