//go:build !unix

package tracer

import "tcptour/tracer/kernel"

// sockopts is empty where the tracer reads no socket options.
type sockopts struct{}

// sockInfo returns nothing: no TCP_INFO, no SO_LINGER here.
func (c *conn) sockInfo(close bool) (*kernel.Info, bool) { return nil, false }
