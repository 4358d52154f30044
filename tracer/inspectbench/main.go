// Command inspectbench measures tracer/inspect against tshark reading the
// same capture: the time each takes and the memory each needs, in the
// same run, alternating, several rounds.
//
//	go run ./tracer/inspectbench                          # 100k and 1M packets, many and few connections
//	go run ./tracer/inspectbench -packets 100000 -shape many -rounds 5
//	go run ./tracer/inspectbench -keep /tmp/caps           # keep the captures it made
//
// The captures are made by this program, the same bytes on every run (no
// root, no network): Ethernet, IPv4 and TCP with timestamps, as tcpdump
// -i eth0 -s 128 would record them (each frame's captured part, its
// length on the wire in the record).
//
// With -html it also times inspect --html (the page written, the
// timeline to /dev/null), and loads the page of each capture in headless
// Chromium, once a round: the page's size, how many segments it draws
// (elements with data-frame), and the time from navigation to the load
// event (scripts run, the page laid out), the median and the range.
//
//   - many: short HTTP/1.1-like connections (handshake, a request, an
//     answer, the close: 10 segments each), 200 of them open at once,
//     their ports used again once 20,000 have been, as a busy server's
//     capture holds.
//   - few: 4 bulk transfers side by side, 1448-byte segments each
//     acknowledged every second one, one segment in 1,000 lost and sent
//     again after three duplicate ACKs with SACK.
//
// For each capture and each program — inspect printing for people
// (--no-color, as into a file or a pipe), inspect --json, and tshark -r
// (its one line per packet, its TCP analysis on, as by default) — it
// reports the wall time, the CPU time (user + system, from the child's
// rusage) and the largest resident set (rusage's maxrss), the median
// over the rounds and the range, and the ratios to tshark's medians.
// Output goes to /dev/null for all.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("inspectbench: ")
	packets := flag.String("packets", "100000,1000000", "the captures' sizes, in packets, comma separated")
	shapes := flag.String("shape", "many,few", "the captures' shapes: many (short connections), few (bulk transfers)")
	rounds := flag.Int("rounds", 3, "rounds: each program reads each capture once a round, in turn")
	keep := flag.String("keep", "", "write the captures into this `dir` and keep them (default: a temporary directory, removed)")
	tshark := flag.String("tshark", "tshark", "the tshark to compare with")
	html := flag.Bool("html", false, "also time inspect --html, and load each page it wrote in headless Chromium (package tracer/browser):\nthe page's size, the segments drawn, the time from navigation to the load event")
	flag.Parse()

	dir := *keep
	if dir == "" {
		d, err := os.MkdirTemp("", "inspectbench")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	inspect := filepath.Join(dir, "inspect")
	if out, err := exec.Command("go", "build", "-o", inspect, "tcptour/tracer/inspect").CombinedOutput(); err != nil {
		log.Fatalf("building tracer/inspect: %v\n%s", err, out)
	}
	if _, err := exec.LookPath(*tshark); err != nil {
		log.Fatalf("%s not found: install it (Debian: apt-get install tshark) or name it with -tshark", *tshark)
	}
	progs := []prog{
		{"inspect", []string{inspect, "--no-color"}},
		{"inspect --json", []string{inspect, "--json"}},
		{"tshark -r", []string{*tshark, "-r"}},
	}
	page := filepath.Join(dir, "page.html")
	if *html {
		progs = slices.Insert(progs, 2, prog{"inspect --html", []string{inspect, "--no-color", "--html", page}})
	}
	fmt.Printf("%-30s %-15s %20s %20s %22s\n", "capture", "program", "wall s (range)", "CPU s (range)", "max RSS MiB (range)")
	for _, shape := range strings.Split(*shapes, ",") {
		for _, ns := range strings.Split(*packets, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(ns))
			if err != nil || n <= 0 {
				log.Fatalf("-packets %q: want positive numbers", ns)
			}
			file := filepath.Join(dir, fmt.Sprintf("%s-%d.pcap", shape, n))
			st, err := write(file, shape, n)
			if err != nil {
				log.Fatal(err)
			}
			name := fmt.Sprintf("%s, %dk packets, %d conns", shape, n/1000, st.conns)
			res := make([][]usage, len(progs))
			for r := 0; r < *rounds; r++ {
				for i, p := range progs {
					u, err := p.run(file)
					if err != nil {
						log.Fatal(err)
					}
					res[i] = append(res[i], u)
				}
			}
			ref := median(res[len(res)-1])
			for i, p := range progs {
				m := median(res[i])
				lo, hi := spread(res[i])
				fmt.Printf("%-30s %-15s %7.2f (%5.2f–%5.2f) %7.2f (%5.2f–%5.2f) %7.0f (%5.0f–%5.0f)",
					name, p.name, m.wall.Seconds(), lo.wall.Seconds(), hi.wall.Seconds(),
					m.cpu.Seconds(), lo.cpu.Seconds(), hi.cpu.Seconds(), m.rss/(1<<20), lo.rss/(1<<20), hi.rss/(1<<20))
				if i < len(progs)-1 {
					fmt.Printf("   %.2f× tshark's speed, %.2f× its memory", ref.wall.Seconds()/m.wall.Seconds(), m.rss/ref.rss)
				}
				fmt.Println()
			}
			if *html {
				if err := loadPage(name, page, *rounds); err != nil {
					log.Fatal(err)
				}
			}
			if *keep == "" {
				os.Remove(file)
			}
		}
	}
}

type prog struct {
	name string
	argv []string
}

type usage struct {
	wall, cpu time.Duration
	rss       float64 // bytes
}

func (p prog) run(file string) (usage, error) {
	cmd := exec.Command(p.argv[0], append(p.argv[1:], file)...)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return usage{}, err
	}
	defer null.Close()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = null, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return usage{}, fmt.Errorf("%s %s: %v\n%s", p.name, file, err, stderr.String())
	}
	cpu, rss, err := childUsage(cmd.ProcessState)
	if err != nil {
		return usage{}, err
	}
	return usage{wall: wall, cpu: cpu, rss: rss}, nil
}

func median(us []usage) usage {
	var m usage
	m.wall = time.Duration(mid(us, func(u usage) float64 { return float64(u.wall) }))
	m.cpu = time.Duration(mid(us, func(u usage) float64 { return float64(u.cpu) }))
	m.rss = mid(us, func(u usage) float64 { return u.rss })
	return m
}

// mid is the median of get over us.
func mid(us []usage, get func(usage) float64) float64 {
	vs := make([]float64, len(us))
	for i, u := range us {
		vs[i] = get(u)
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

func spread(us []usage) (lo, hi usage) {
	lo, hi = us[0], us[0]
	for _, u := range us[1:] {
		lo.wall, hi.wall = min(lo.wall, u.wall), max(hi.wall, u.wall)
		lo.cpu, hi.cpu = min(lo.cpu, u.cpu), max(hi.cpu, u.cpu)
		lo.rss, hi.rss = min(lo.rss, u.rss), max(hi.rss, u.rss)
	}
	return lo, hi
}
