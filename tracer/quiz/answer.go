package quiz

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Verdict is what [Question.Check] makes of a reply.
type Verdict int

// The verdicts.
const (
	Skipped Verdict = iota // an empty reply
	Right
	Wrong
)

// String names the verdict: "right", "wrong" or "skipped".
func (v Verdict) String() string {
	switch v {
	case Right:
		return "right"
	case Wrong:
		return "wrong"
	}
	return "skipped"
}

// Check reads a reply to the question forgivingly:
//
//   - A number is the first number in the reply: "port 43210", "43,210"
//     and "43 210" are 43210 (a comma before three digits groups
//     thousands, except after a lone 0: "0,028" is 0.028; another comma
//     is a decimal point). A time is in milliseconds unless the reply
//     says "µs", "us" or "s" after the number, and is right within the
//     question's tolerance.
//   - A word is right when the reply, in any case and without "the",
//     "a", "side", "end", "socket" and "'s", is the answer: "the
//     client", "Client side", "client's" and "c" all say client (one
//     letter is enough between client and server). A state's name may
//     use spaces or dashes for the underscore: "close wait".
//
// An empty reply, or one of spaces, skips the question.
func (q Question) Check(reply string) Verdict {
	reply = strings.TrimSpace(reply)
	if reply == "" {
		return Skipped
	}
	if q.words != nil {
		// One letter for a side: "s" is also what "'s" leaves.
		letter := strings.Trim(strings.ToLower(reply), " .!?")
		got := normalWords(reply)
		for _, w := range q.words {
			want := normalWords(w)
			if len(w) == 1 && letter == w ||
				got != "" && (got == want || strings.ReplaceAll(got, " ", "") == strings.ReplaceAll(want, " ", "")) {
				return Right
			}
		}
		return Wrong
	}
	n, unit, ok := firstNumber(reply)
	if !ok {
		return Wrong
	}
	if q.unit == "ms" {
		switch unit {
		case "µs", "us":
			n /= 1000
		case "s":
			n *= 1000
		}
	}
	if math.Abs(n-q.number) <= q.tol {
		return Right
	}
	return Wrong
}

// fillers are the words a reply may add around the answer.
var fillers = []string{"the", "a", "an", "side", "sides", "end", "socket", "s", "its", "it", "was", "is", "one"}

// normalWords is text in lower case, its words (letters and digits)
// joined by single spaces, without the fillers: "The client's side" is
// "client", "CLOSE_WAIT" is "close wait".
func normalWords(text string) string {
	f := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	f = slices.DeleteFunc(f, func(w string) bool { return slices.Contains(fillers, w) })
	return strings.Join(f, " ")
}

// number is a number in a reply, with its groups of thousands, its
// decimals and the unit that may follow it.
var number = regexp.MustCompile(`(\d+(?:[, ]\d{3})*)(?:[.,](\d+))?\s*(µs|us|ms|s)?\b`)

// firstNumber finds the first number in text and the unit after it.
func firstNumber(text string) (n float64, unit string, ok bool) {
	m := number.FindStringSubmatch(text)
	if m == nil {
		return 0, "", false
	}
	whole, frac := m[1], m[2]
	if rest, ok := strings.CutPrefix(whole, "0,"); ok && frac == "" && !strings.ContainsAny(rest, ", ") {
		// "0,028": a decimal comma, not a group.
		whole, frac = "0", rest
	}
	s := strings.NewReplacer(",", "", " ", "").Replace(whole)
	if frac != "" {
		s += "." + frac
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, "", false
	}
	return n, m[3], true
}
