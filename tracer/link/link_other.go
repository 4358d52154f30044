//go:build !linux

package link

import (
	"context"
	"errors"
	"syscall"
)

// Link is a client namespace and a server namespace joined through this
// program. Only Linux has them.
type Link struct{}

// New returns an error: network namespaces are Linux's.
func New(cfg Config) (*Link, error) {
	return nil, errors.New("link: network namespaces need Linux")
}

// InClient runs f in the client's namespace.
func (l *Link) InClient(f func() error) error {
	return errors.New("link: network namespaces need Linux")
}

// InServer runs f in the server's namespace.
func (l *Link) InServer(f func() error) error {
	return errors.New("link: network namespaces need Linux")
}

// Sync returns an error: network namespaces are Linux's.
func (l *Link) Sync(ctx context.Context) error {
	return errors.New("link: network namespaces need Linux")
}

// SetRules does nothing.
func (l *Link) SetRules(rules ...Rule) error { return nil }

// Rules returns nil.
func (l *Link) Rules() []Rule { return nil }

// SetSysctl returns an error: network namespaces are Linux's.
func (l *Link) SetSysctl(name, value string) (string, error) {
	return "", errors.New("link: network namespaces need Linux")
}

// ClientTID is 0: there are no namespaces to join.
func (l *Link) ClientTID() int { return 0 }

// ServerTID is 0: there are no namespaces to join.
func (l *Link) ServerTID() int { return 0 }

// SetRate does nothing.
func (l *Link) SetRate(toServer, toClient int64, queue int) error { return nil }

// Close does nothing.
func (l *Link) Close() error { return nil }

// SetCongestion sets the congestion control of a TCP connection or
// listener; only Linux has it here.
func SetCongestion(c syscall.Conn, name string) error {
	return errors.New("link: TCP_CONGESTION needs Linux")
}

// Congestion returns the congestion control of a TCP connection or
// listener; only Linux has it here.
func Congestion(c syscall.Conn) (string, error) {
	return "", errors.New("link: TCP_CONGESTION needs Linux")
}
