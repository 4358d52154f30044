//go:build !race

package page

// bulkPackets is the size of TestFold's synthetic capture.
const bulkPackets = 100_000
