// Package outside is the program outside a lesson's lab while the
// program in the lab runs: it waits for it to end, passes on the
// signals it gets, and says what the lab said and the status to exit
// with. Package lab (lab.Reexec) and package early, which waits in its
// init, share it, and the environment through which the two programs
// speak.
//
// It imports only light packages of the standard library (io, os,
// strconv, syscall, unsafe): package early's init, which uses it, must
// still run before the heavy packages' (gopacket's decoder tables), and
// runs after this package's imports.
package outside
