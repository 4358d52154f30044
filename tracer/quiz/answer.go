package quiz

import (
	"fmt"
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
//     is a decimal point). With no digits, a number from zero to ten
//     may be a word: "three". A time is in milliseconds when no unit
//     follows the number; the units read are ms, msec, milliseconds;
//     µs (micro sign or Greek mu), us, usec, microseconds; ns, nsec,
//     nanoseconds; s, sec, seconds. Another word right after the
//     number ("25 ticks") is not taken for milliseconds: the reply is
//     wrong, and [Question.Hint] asks for the unit. A time is right
//     within the question's tolerance.
//   - A word is right when the reply, in any case and without "the",
//     "a", "side", "end", "socket" and "'s", is the answer: "the
//     client", "Client side", "client's" and "c" all say client (one
//     letter is enough between client and server). A state's name may
//     use spaces or dashes for the underscore: "close wait".
//
// An empty reply, one of spaces, or one that says the answer is not
// known ("?", "skip", "pass", "I don't know", "idk", "dunno", "no
// idea") skips the question.
func (q Question) Check(reply string) Verdict {
	v, _ := q.check(reply)
	return v
}

// Hint is what to tell someone whose reply [Question.Check] found
// wrong for a reason other than its value, or "": a time whose unit it
// does not know.
func (q Question) Hint(reply string) string {
	_, h := q.check(reply)
	return h
}

// check is Check's verdict and Hint's hint.
func (q Question) check(reply string) (Verdict, string) {
	reply = strings.TrimSpace(reply)
	if reply == "" || dontKnow(reply) {
		return Skipped, ""
	}
	if q.words != nil {
		// One letter for a side: "s" is also what "'s" leaves.
		letter := strings.Trim(strings.ToLower(reply), " .!?")
		got := normalWords(reply)
		for _, w := range q.words {
			want := normalWords(w)
			if len(w) == 1 && letter == w ||
				got != "" && (got == want || strings.ReplaceAll(got, " ", "") == strings.ReplaceAll(want, " ", "")) {
				return Right, ""
			}
		}
		return Wrong, ""
	}
	n, unit, ok := firstNumber(reply)
	if !ok {
		n, ok = numberWord(reply)
		unit = ""
	}
	if !ok {
		return Wrong, ""
	}
	if q.unit == "ms" {
		scale, known := timeUnits[strings.ToLower(unit)]
		if !known {
			return Wrong, fmt.Sprintf("%q: give the time with its unit (ms, µs, ns or s); a number alone is read as ms.", reply)
		}
		n *= scale
	}
	if math.Abs(n-q.number) <= q.tol {
		return Right, ""
	}
	return Wrong, ""
}

// timeUnits are the units of a time in a reply, each with its size in
// milliseconds; "" and words that are no unit ("or", "I think") are
// milliseconds.
var timeUnits = map[string]float64{
	"": 1, "ms": 1, "msec": 1, "msecs": 1, "millisecond": 1, "milliseconds": 1, "millis": 1,
	"µs": 1e-3, "μs": 1e-3, "us": 1e-3, "usec": 1e-3, "usecs": 1e-3, "µsec": 1e-3, "μsec": 1e-3,
	"microsecond": 1e-3, "microseconds": 1e-3, "micros": 1e-3,
	"ns": 1e-6, "nsec": 1e-6, "nsecs": 1e-6, "nanosecond": 1e-6, "nanoseconds": 1e-6,
	"s": 1000, "sec": 1000, "secs": 1000, "second": 1000, "seconds": 1000,
	// Not units: what may follow a number in a sentence.
	"or": 1, "i": 1, "and": 1, "about": 1, "roughly": 1, "maybe": 1, "ish": 1, "approx": 1, "perhaps": 1,
}

// dontKnow reports whether reply says its writer does not know the
// answer: only question marks, or "skip", "pass", "I don't know",
// "idk", "dunno", "no idea", "not sure", in any case.
func dontKnow(reply string) bool {
	if strings.Trim(reply, "? ") == "" {
		return true
	}
	var b strings.Builder
	for _, r := range strings.ToLower(reply) {
		if unicode.IsLetter(r) {
			b.WriteRune(r)
		}
	}
	switch b.String() {
	case "skip", "pass", "idk", "dunno", "idunno", "idontknow", "dontknow", "donotknow", "idonotknow",
		"noidea", "notsure", "nextquestion", "next":
		return true
	}
	return false
}

// numberWords are the numbers a reply may spell out.
var numberWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}

// numberWord is the first number from zero to ten spelled out in text:
// "three segments" is 3.
func numberWord(text string) (float64, bool) {
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if i := slices.Index(numberWords, w); i >= 0 {
			return float64(i), true
		}
	}
	return 0, false
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
// decimals and the word that may follow it: a unit, or not.
var number = regexp.MustCompile(`(\d+(?:[, ]\d{3})*)(?:[.,](\d+))?\s*(\pL*)`)

// firstNumber finds the first number in text and the word right after
// it, a unit or not ("" when none).
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
