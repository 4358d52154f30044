#!/bin/sh
# Regenerates the traces page_test.go reads: lessons 03 and 12 run with
# capture on, their JSON trace and pcapng file side by side. Run from
# the module's root: sh tracer/page/testdata/gen.sh (needs a lab or root).
set -e
d=tracer/page/testdata
go run ./lessons/03 --json --capture=on --pcap $d/lesson03.pcapng > $d/lesson03.jsonl
go run ./lessons/12 --json --capture=on --pcap $d/lesson12.pcapng | gzip -9 > $d/lesson12.jsonl.gz
chmod 644 $d/lesson03.pcapng $d/lesson12.pcapng
