package page

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"tcptour/tracer"
)

// WriteSVG writes one of a page's pictures as an SVG file of its own,
// for the docs (lessons/internal/docgen draws them from real runs):
// kind "ladder" (connection conn's ladder, unfolded), "seq" (conn's
// time–sequence graph, of the direction that carried more bytes), "cwnd"
// (conn's window chart, of the first socket sampled) or "states" (the
// state diagram of every connection; conn is not used). The file
// carries the page's styles, light and dark: it looks as on the page,
// shown by an <img> or opened alone.
func WriteSVG(w io.Writer, events []tracer.Event, conn int, kind string) error {
	var html string
	switch kind {
	case "ladder":
		client, server, rows := ladderRows(events, conn)
		if len(rows) == 0 {
			return fmt.Errorf("connection #%d has no ladder in this trace", conn)
		}
		html = string(ladderSVG(events, conn, rows, client, server, countFrames(rows), 0).SVG)
	case "seq":
		html = string(seqGraph(events, conn))
	case "cwnd":
		html = string(cwndChart(events, conn))
	case "states":
		html = string(stateDiagram(events))
	default:
		return fmt.Errorf("kind %q: want ladder, seq, cwnd or states", kind)
	}
	// The first <svg> of what the page shows: the page's buttons and
	// lists around it stay on the page.
	start := strings.Index(html, "<svg")
	if start < 0 {
		return fmt.Errorf("connection #%d has no %s picture in this trace", conn, kind)
	}
	end := strings.Index(html[start:], "</svg>")
	if end < 0 {
		return errors.New("an <svg> without its end")
	}
	svg := html[start : start+end+len("</svg>")]
	open := svg[:strings.IndexByte(svg, '>')+1]
	tag := open
	if !strings.Contains(tag, "xmlns=") {
		tag = strings.Replace(tag, "<svg", `<svg xmlns="http://www.w3.org/2000/svg"`, 1)
	}
	// An <img> sizes an SVG by its width and height.
	if m := viewBox.FindStringSubmatch(tag); m != nil && !strings.Contains(tag, " width=") {
		tag = strings.Replace(tag, "<svg", fmt.Sprintf(`<svg width="%s" height="%s"`, m[1], m[2]), 1)
	}
	// The page's colours, on a background of their own (an image has
	// no page behind it).
	style := "<style><![CDATA[" + pageCSS + graphCSS + ":root{background:var(--bg)}]]></style>"
	_, err := io.WriteString(w, tag+style+svg[len(open):]+"\n")
	return err
}

// viewBox matches an SVG's viewBox, for its width and height.
var viewBox = regexp.MustCompile(`viewBox="0 0 ([0-9.]+) ([0-9.]+)"`)
