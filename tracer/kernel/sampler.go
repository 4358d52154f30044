package kernel

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Sample is one reading of a connection's TCP_INFO and when it was
// taken.
type Sample struct {
	Time time.Time `json:"time"`
	Info Info      `json:"info"`
}

// MinSampleInterval is the shortest interval a [Sampler] waits between
// two readings when it follows the round-trip time: on loopback a round
// trip takes microseconds.
const MinSampleInterval = time.Millisecond

// maxSampleInterval is the longest wait between readings that follow
// the round-trip time.
const maxSampleInterval = time.Second

// A Sampler reads the TCP_INFO of one connection over and over, from a
// goroutine of its own, until it is stopped: a series of the congestion
// window, the segments in flight, the round-trip time, … over a
// transfer. [StartSampler] starts one.
type Sampler struct {
	raw     syscall.RawConn
	every   time.Duration
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	samples []Sample
	err     error
}

// StartSampler reads c's TCP_INFO at once, then every interval, until
// [Sampler.Stop]. An interval of 0 follows the connection: the next
// reading comes one smoothed round-trip time (as the last reading gave
// it) after the previous one, but never sooner than [MinSampleInterval]
// nor later than a second, so that a transfer is seen about once per
// round trip. c is a *net.TCPConn or a connection that wraps one, as
// for [TCPInfo]. On systems other than Linux it returns an error
// matching [ErrUnsupported].
func StartSampler(c net.Conn, interval time.Duration) (*Sampler, error) {
	sc, err := syscallConn(c)
	if err != nil {
		return nil, err
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("kernel: TCP_INFO: %w", err)
	}
	s := &Sampler{raw: raw, every: interval, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.read(); err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// Stop takes a last reading, ends the sampling and returns the samples
// in the order they were taken, the first from [StartSampler] and the
// last from Stop. A connection closed before Stop ends the sampling at
// its close: the samples before it are returned, with no error; any
// other failure to read ends it too, and Stop returns it with the
// samples read before. Stop may be called more than once, and returns
// the same each time.
func (s *Sampler) Stop() ([]Sample, error) {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.samples, s.err
}

func (s *Sampler) run() {
	defer close(s.done)
	t := time.NewTimer(s.next())
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.end(s.read())
			return
		case <-t.C:
			if err := s.read(); err != nil {
				s.end(err)
				return
			}
			t.Reset(s.next())
		}
	}
}

// end records why the sampling ended: nothing when the connection was
// closed.
func (s *Sampler) end(err error) {
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.err = err
	}
}

// next returns how long to wait for the next reading.
func (s *Sampler) next() time.Duration {
	if s.every > 0 {
		return s.every
	}
	rtt := s.samples[len(s.samples)-1].Info.RTT
	return min(max(rtt, MinSampleInterval), maxSampleInterval)
}

// read takes a sample.
func (s *Sampler) read() error {
	s.samples = append(s.samples, Sample{})
	smp := &s.samples[len(s.samples)-1]
	var rerr error
	err := s.raw.Control(func(fd uintptr) { rerr = TCPInfoFD(fd, &smp.Info) })
	smp.Time = time.Now()
	if err != nil {
		err = fmt.Errorf("kernel: TCP_INFO: %w", err)
	} else {
		err = rerr
	}
	if err != nil {
		s.samples = s.samples[:len(s.samples)-1]
	}
	return err
}
