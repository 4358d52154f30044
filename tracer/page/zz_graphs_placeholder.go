package page

import (
	"html/template"

	"tcptour/tracer"
)

// Placeholders of the graph helper's three functions (seqgraph.go,
// cwnd.go, states.go), until the coordinator merges both parts of
// issue 18 and deletes this file.

// seqGraph: connection conn's time–sequence graph(s), an <svg> (or "" when it has no data).
func seqGraph(events []tracer.Event, conn int) template.HTML { return "" }

// cwndChart: conn's cwnd / in-flight / RTT chart from sample events ("" without samples).
func cwndChart(events []tracer.Event, conn int) template.HTML { return "" }

// stateDiagram: the TCP state diagram with the states this run visited marked ("" without state events).
func stateDiagram(events []tracer.Event) template.HTML { return "" }
