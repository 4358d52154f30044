package wire

import "tcptour/tracer/outfile"

// Files are a traced program's output files, -pcap, -mermaid and -html. Each
// is checked and made beside its path before the program starts its
// work, and takes the path's name only at the end of a run that went
// well, or was stopped by Ctrl-C (see tracer/outfile). Until then, and
// after a run that failed, what was at the path stays as it was.
type Files struct {
	PCAP    *outfile.File // for Config.PCAP; nil when not asked for
	Mermaid *outfile.File // for Timeline.WriteMermaid; nil when not asked for
	HTML    *outfile.File // for tracer/page.Write; nil when not asked for
}

// CreateFiles checks the paths given ("" for none) and makes their
// files. Its error is one line naming the flag and the path.
func CreateFiles(pcap, mermaid, html string) (Files, error) {
	var f Files
	var err error
	if pcap != "" {
		// A capture can hold private data: mode 0600.
		if f.PCAP, err = outfile.Create("pcap", pcap, 0o600); err != nil {
			return Files{}, err
		}
	}
	if mermaid != "" {
		if f.Mermaid, err = outfile.Create("mermaid", mermaid, 0o644); err != nil {
			f.Discard()
			return Files{}, err
		}
	}
	if html != "" {
		if f.HTML, err = outfile.Create("html", html, 0o644); err != nil {
			f.Discard()
			return Files{}, err
		}
	}
	return f, nil
}

// Commit puts the pcap file in place when captured (the capture ran:
// Start discarded it otherwise), the Mermaid file when mermaid and the
// HTML file when html (they were written), and discards the others.
func (f Files) Commit(captured, mermaid, html bool) error {
	defer f.Discard()
	if captured {
		if err := f.PCAP.Commit(); err != nil {
			return err
		}
	}
	if mermaid {
		if err := f.Mermaid.Commit(); err != nil {
			return err
		}
	}
	if html {
		return f.HTML.Commit()
	}
	return nil
}

// Discard leaves every path whose file is not committed as it was. Defer
// it right after CreateFiles.
func (f Files) Discard() {
	f.PCAP.Discard()
	f.Mermaid.Discard()
	f.HTML.Discard()
}
