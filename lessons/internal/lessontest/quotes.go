package lessontest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DocQuotesSource checks that every line of the Go blocks of the
// lesson's page, docs/lessons/NN.md, is in the lesson's source (its
// .go files but the tests), so that a page never quotes code the lesson
// no longer has. Run it from the lesson's folder, as go test does.
func DocQuotesSource(t *testing.T, number string) {
	t.Helper()
	page := filepath.Join("docs", "lessons", number+".md")
	doc, err := os.ReadFile(filepath.Join("..", "..", page))
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	quoted := 0
	for _, block := range strings.Split(string(doc), "```go\n")[1:] {
		for _, line := range strings.Split(block[:strings.Index(block, "```")], "\n") {
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			quoted++
			if !strings.Contains(src.String(), line) {
				t.Errorf("%s quotes a line the source lacks: %s", page, line)
			}
		}
	}
	if quoted == 0 {
		t.Errorf("%s quotes no Go", page)
	}
}
