package main

import "tcptour/tracer/capture"

type decoder struct{}

func (decoder) Decode(p capture.Packet) (capture.Decoded, error) { return capture.Decode(p) }

func skipReason(err error) string { return "not decodable" }
