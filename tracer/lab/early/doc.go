// Package early starts a lesson's lab while the rest of the lesson's
// program is still starting, and waits for it there.
//
// A lesson runs twice: once as the program the learner started, which
// makes the lab, and once in the lab (lab.Reexec). Made the plain way,
// the lab's program starts only when the first has started in full,
// gopacket's decoder tables and all, then parsed its flags: two starts
// one after the other, some 30 ms each on a small machine. This
// package's init runs before those of the heavy packages (the Go
// specification initialises packages in the order of their import
// paths, each once its imports are: this one imports only os,
// os/signal, syscall, strconv and package outside, which need almost
// no time, and gopacket's packages need more before they can start)
// and starts the lab's program there and then, in its new namespaces.
// It then waits for it in the init, passing on the signals it gets
// (package outside, as lab.Reexec does), and exits with its status: the
// program outside never starts in full, and does not take a CPU from
// the one in the lab.
//
// The lab's program is marked unchecked (lab.Unchecked): nothing has
// read its flags yet. Package lesson's Main checks them, and the files
// they name, before it sets the lab up (lab.Setup); where anything is
// wrong it ends without a word (lab.Decline), and the program outside
// goes on from this init the plain way: it reads its flags and says
// what is wrong, with the learner's own ids (in a lab made in a user
// namespace every other user's files look like nobody's). So does it
// where the lab could not set itself up: lab.Reexec then tries the
// plain way, and says why it cannot. In a lab made in a user namespace,
// where it is root and may write where the learner may not, it
// declines whenever the flags name files: the program outside checks
// them. A Ctrl-C, SIGTERM or hang-up before the lab is set up ends
// both, as the learner asked (package outside passes them on as they
// are until then); so does a signal that kills the lab then (SIGKILL):
// this program exits with 128+n, and starts no other lab.
//
// Import it for its effect from a package only lessons' programs
// (and their tests, which it leaves alone) import, as package lesson
// does:
//
//	import _ "tcptour/tracer/lab/early"
//
// The program in the lab runs the lesson's main, all of it: a lesson
// that runs its own program again as a helper must do so in its lab
// (lesson 16's client, started in the lab's client namespace), where
// nothing starts early, or the helper would do its work in a lab of its
// own.
//
// It starts nothing in a program already in a lab, in a test binary
// (named *.test, or with an argument beginning -test.), or where the
// arguments ask for the host or for help (--host, -h, --help): those go
// the plain way, or do not need a lab. Where the kernel refuses the
// namespaces, it keeps the error for lab.Reexec, which says why as it
// would have, through this process's environment (TCPTOUR_LAB_EARLY),
// which lab.Reexec reads and clears: package lab cannot import this one
// without making every program that uses a lab start one early.
package early
