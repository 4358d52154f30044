// Package hugebss asks the kernel, before gopacket starts, to back the
// program's zeroed data (its BSS) with huge pages where it can.
//
// A lesson's program fills 6 MB of gopacket's decoder tables when it
// starts (the init of github.com/google/gopacket/layers writes an entry
// for each of the 65,536 EtherTypes and PPP types): in 4 KiB pages that
// is some 1,500 page faults, and in a virtual machine each may cost
// 10 µs or more. A lesson in its lab starts twice, so it paid that
// twice. With transparent huge pages allowed on request
// (/sys/kernel/mm/transparent_hugepage/enabled is "madvise" or
// "always"), most of the tables take a few faults of 2 MiB each; the
// part of them that shares a huge page's worth with variables the Go
// runtime wrote first stays in small pages, which this package fills
// in one call (MADV_POPULATE_WRITE) instead of a fault for each.
//
// Import it for its effect, from a package every such program imports:
//
//	import _ "tcptour/tracer/lab/hugebss"
//
// It imports nothing but syscall and unsafe, so by the Go
// specification's order of initialisation (packages sorted by import
// path, each after its imports) its init runs before that of package
// time, and so before every package that needs time, gopacket's among
// them. Where the kernel refuses the advice, nothing changes.
package hugebss
