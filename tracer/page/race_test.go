//go:build race

package page

// bulkPackets is the size of TestFold's synthetic capture: smaller under
// the race detector, which makes Write some 40 times slower.
const bulkPackets = 20_000
