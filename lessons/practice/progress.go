package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// progress is what the learner has done, kept between runs in the
// user's config folder (os.UserConfigDir: ~/.config/tcptour on Linux).
type progress struct {
	// Done holds when each exercise was first found to hold.
	Done map[string]time.Time `json:"done"`
	// Hints holds how many hints of each exercise were shown.
	Hints map[string]int `json:"hints"`

	path string // "" when there is no config folder
}

// loadProgress reads the progress file. With no file yet, the progress
// is empty; with no config folder or an unreadable file, it is empty
// too and the error says why it will not be kept.
func loadProgress() (*progress, error) {
	p := &progress{Done: map[string]time.Time{}, Hints: map[string]int{}}
	dir, err := os.UserConfigDir()
	if err != nil {
		return p, fmt.Errorf("your progress is not kept: %w", err)
	}
	p.path = filepath.Join(dir, "tcptour", "practice.json")
	b, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err == nil {
		err = json.Unmarshal(b, p)
	}
	if err != nil {
		return p, fmt.Errorf("reading your progress: %w; it starts again from nothing", err)
	}
	if p.Done == nil {
		p.Done = map[string]time.Time{}
	}
	if p.Hints == nil {
		p.Hints = map[string]int{}
	}
	return p, nil
}

// save writes the progress file whole: to a new file beside it, then
// renamed over it, so that a crash leaves the old one or the new one.
func (p *progress) save() error {
	if p.path == "" {
		return errors.New("there is no config folder to keep it in (os.UserConfigDir: is HOME set?)")
	}
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p.path), ".practice-*.json")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p.path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (p *progress) markDone(ex *Exercise) {
	if _, ok := p.Done[ex.Name]; !ok {
		p.Done[ex.Name] = time.Now().UTC().Truncate(time.Second)
	}
}

func (p *progress) hintsSeen(ex *Exercise) int { return p.Hints[ex.Name] }

func (p *progress) setHints(ex *Exercise, n int) { p.Hints[ex.Name] = n }

func (p *progress) forget(ex *Exercise) {
	delete(p.Done, ex.Name)
	delete(p.Hints, ex.Name)
}

func (p *progress) forgetAll() {
	clear(p.Done)
	clear(p.Hints)
}

// doneCount is how many of the exercises are done.
func (p *progress) doneCount() int {
	n := 0
	for _, ex := range exercises {
		if _, ok := p.Done[ex.Name]; ok {
			n++
		}
	}
	return n
}

// next is the first exercise not done, nil when all are.
func (p *progress) next() *Exercise {
	for _, ex := range exercises {
		if _, ok := p.Done[ex.Name]; !ok {
			return ex
		}
	}
	return nil
}

// state is "done", "next" or "not started" ("started" once a check
// failed or a hint was shown).
func (p *progress) state(ex, next *Exercise) string {
	switch {
	case !p.Done[ex.Name].IsZero():
		return "done"
	case ex == next:
		return "next"
	case p.Hints[ex.Name] > 0:
		return "started"
	}
	return "not started"
}
