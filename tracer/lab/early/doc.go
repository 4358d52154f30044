// Package early starts a lesson's lab while the rest of the lesson's
// program is still starting.
//
// A lesson runs twice: once as the program the learner started, which
// makes the lab, and once in the lab (lab.Reexec). Made the plain way,
// the lab's program starts only when the first has started in full,
// gopacket's decoder tables and all, then parsed its flags: two starts
// one after the other, some 30 ms each on a small machine. This
// package's init runs before those of the heavy packages (the Go
// specification initialises packages in the order of their import
// paths, each once its imports are: this one imports nothing but
// syscall and strconv, which need no time, and "tcptour/…" sorts
// before "time", so it comes before package time and everything that
// needs time), and starts the lab's program there and then, in its new
// namespaces: the two programs start side by side. The one in the lab
// waits (lab.AwaitStart, which the program calls from an init that runs
// after the heavy ones: package lesson's) until the one outside has
// parsed its flags and chosen the lab (lab.Reexec, which takes the
// program started here), so it prints nothing, and does nothing, that
// the plain way would not, whatever role the program plays (a lesson
// that runs itself again as its client).
//
// Import it for its effect from a package only lessons' programs
// (and their tests, which it leaves alone) import, as package lesson
// does:
//
//	import _ "tcptour/tracer/lab/early"
//
// It starts nothing in a program already in a lab, in a test binary
// (named *.test, or with an argument beginning -test.), or where the arguments ask for the
// host or for help (--host, -h, --help): those go the plain way, or do
// not need a lab. Where the kernel refuses the namespaces, it keeps the
// error for lab.Reexec, which says why as it would have. A lab started
// here that the program does not take (its flags were wrong, say) dies
// with the program, having printed nothing.
//
// It hands what it started to package lab through this process's
// environment (TCPTOUR_LAB_EARLY), which lab.Reexec reads and clears:
// package lab cannot import this one without making every program that
// uses a lab start one early.
package early
