//go:build !unix

package main

import (
	"errors"
	"os"
	"time"
)

// childUsage needs getrusage, which this system does not have.
func childUsage(*os.ProcessState) (time.Duration, float64, error) {
	return 0, 0, errors.New("inspectbench measures with getrusage: run it on Linux or another Unix")
}
