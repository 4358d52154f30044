package lab

// A lesson in its lab starts its program twice, and each start filled
// gopacket's decoder tables a page fault at a time: hugebss, whose init
// runs before gopacket's, asks for huge pages there (docs/performance.md,
// "Entering the lab").
import _ "tcptour/tracer/lab/hugebss"
