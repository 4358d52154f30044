// Package page writes one self-contained HTML page of a trace: the
// lesson's steps with their notes, the timeline (filterable by actor and
// connection), per connection an SVG ladder of its segments (hover,
// focus or click one for its note and numbers; ←/→ step through them),
// its time–sequence graph and cwnd chart, the TCP state diagram and the
// kernel's counters. Everything the page needs is in the file: CSS, SVG
// and a little JavaScript, embedded; it loads nothing from the network.
//
// A program that holds a trace writes its page with [Write]:
//
//	f, err := os.Create("12.html")
//	if err != nil {
//		return err
//	}
//	defer f.Close()
//	return page.Write(f, page.Doc{
//		Title:   "tcptour · lesson 12 · Lost and sent again",
//		Command: "go run ./lessons/12 --html 12.html",
//		Events:  tr.Events(),
//	})
//
// Each captured TCP frame has one element with its number in
// data-frame, so that a test, or a learner's script, finds it.
package page
