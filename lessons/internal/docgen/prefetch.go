package main

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// checkers is how many commands a check runs at a time. Most of a
// check's time is lessons waiting on TCP's timers (a keepalive's 15 s
// idle, a retransmission's timeout, a DNS query's), not using the
// CPUs: one at a time, a check kept 0.7 of this machine's 2 CPUs busy.
const checkers = 4

// lessonRe names the lesson (or program) a command runs. The commands
// that name one lesson run one after another: some write the same files
// (/tmp/11.pcapng).
var lessonRe = regexp.MustCompile(`\./(lessons/[0-9a-z]+|tracer/inspect)\b`)

// hostRe matches the commands that use this machine's own network, where
// the others would see them, or they the others: a lesson with --host
// (its ports' changes of state, as root, and its capture on the
// machine's loopback), ss on the machine's sockets (after.sh,
// lab-join.sh), a client dialling the machine's port 1, the lab's
// cost measured against --host (lab-time.sh). They run one after
// another, beside the rest: the lessons in labs of their own, the
// scripts that give a program a network namespace of its own
// (with-server.sh's port 6969 is that namespace's, pcap.sh,
// pause-before-step4.sh), or that read files. seed.sh's server and
// client use the machine's loopback, on ports the kernel chooses and
// without capture, and lab-refused.sh's lesson, refused a lab, runs
// there with only its stderr shown: nothing the others do shows in
// what they print.
var hostRe = regexp.MustCompile(`--host|\./client|scripts/(lab-time|after|lab-join|as-nobody)\.sh`)

// prefetch runs, before a check compares the pages, the first run of
// each command they name, checkers at a time, and keeps its output for
// output. The further runs a check asks for when an
// excerpt disagrees run one at a time afterwards, on a machine the
// prefetch no longer loads. A rewrite does not prefetch: the pages
// show runs on a quiet machine.
func (r *runner) prefetch(pages []string) error {
	queue, err := plan(pages)
	if err != nil {
		return err
	}
	work := make(chan []job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range checkers {
		wg.Go(func() {
			for g := range work {
				for _, j := range g {
					out, err := runOnce(j.cmd, j.file)
					if err != nil {
						// It runs again alone, when the check needs it:
						// a command fails the check only there.
						fmt.Fprintf(os.Stderr, "docgen: failed beside other commands, to be run again alone: %v\n", err)
						continue
					}
					mu.Lock()
					key := j.cmd + "\x00" + j.file
					r.outputs[key] = append(r.outputs[key], out)
					mu.Unlock()
				}
			}
		})
	}
	for _, g := range queue {
		work <- g
	}
	close(work)
	wg.Wait()
	return nil
}

// A job is a command a page names, with the file it writes, if the
// excerpt shows one.
type job struct{ cmd, file string }

// plan groups the commands the pages name (each once) by the lesson
// they run, and those on this machine's own network together: the
// commands of a group run one after another, in the pages' order. The
// groups with the most commands come first (the machine's network's is
// the longest): the check waits for the longest.
func plan(pages []string) ([][]job, error) {
	groups := map[string][]job{}
	seen := map[job]bool{}
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(b)) {
			line = strings.TrimRight(line, "\n")
			m := markerRe.FindStringSubmatch(line)
			picture := false
			if m == nil {
				m = pictureRe.FindStringSubmatch(line)
				picture = true
			}
			if m == nil {
				continue
			}
			spec, err := parseSpec(m[1])
			if err != nil {
				continue // the check reports it, with its line
			}
			j := job{cmd: spec.get("cmd")}
			if !picture {
				j.file = spec.get("file")
			}
			if j.cmd == "" || seen[j] {
				continue
			}
			seen[j] = true
			group := j.cmd
			if hostRe.MatchString(j.cmd) {
				group = "host"
			} else if m := lessonRe.FindStringSubmatch(j.cmd); m != nil {
				group = m[1]
			}
			groups[group] = append(groups[group], j)
		}
	}
	queue := slices.Collect(maps.Values(groups))
	slices.SortFunc(queue, func(a, b []job) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a[0].cmd, b[0].cmd))
	})
	return queue, nil
}
