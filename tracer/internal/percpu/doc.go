// Package percpu runs work on threads pinned one to each CPU the
// process may run on. A frame a thread sends on lo or into a veth pair
// is queued on its CPU's backlog, behind every frame sent earlier from
// that CPU (by a program, or by the kernel on its own, as a timer's
// retransmission or RST): a marker sent from every CPU is behind every
// frame sent before it. The capture's Sync (tracer/capture) and the
// link's (tracer/link) send their markers so. Only Linux has it.
package percpu
