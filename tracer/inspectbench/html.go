package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"tcptour/tracer/browser"
)

// loadPage opens the page inspect --html wrote in headless Chromium,
// rounds times, and prints its size, the segments it draws and the
// median time to its load event, with the range.
func loadPage(name, page string, rounds int) error {
	fi, err := os.Stat(page)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := browser.Launch(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	var times []time.Duration
	drawn := 0
	for range rounds {
		pg, err := b.Open(ctx, page, browser.Options{Width: 1280, Height: 1000})
		if err != nil {
			return err
		}
		times = append(times, pg.LoadTime())
		if drawn, err = pg.Count(ctx, "[data-frame]"); err != nil {
			return err
		}
		if errs := pg.Errors(); len(errs) > 0 {
			return fmt.Errorf("%s: the browser's console: %q", page, errs)
		}
		if err := pg.Close(); err != nil {
			return err
		}
	}
	slices.Sort(times)
	fmt.Printf("%-30s %-15s %7.2f (%5.2f–%5.2f) s to the load event in Chromium; the page %.1f MB, %d segments drawn\n",
		name, "page loaded", times[len(times)/2].Seconds(), times[0].Seconds(), times[len(times)-1].Seconds(),
		float64(fi.Size())/(1<<20), drawn)
	return nil
}
