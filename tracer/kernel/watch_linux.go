//go:build linux

package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Change is one change of a TCP socket's state as the kernel made it:
// one firing of the tracepoint sock:inet_sock_set_state.
//
// A socket's first change is CLOSE→SYN_SENT for a connecting socket,
// CLOSE→LISTEN for a listener, LISTEN→SYN_RECV for a connection a
// listener creates (when the handshake's last ACK comes; the connection
// request before it has no tracepoint). Its last is →CLOSE: the kernel
// hands a connection that enters TIME_WAIT to a mini-socket, which has
// no tracepoint, so the active closer's socket ends with FIN_WAIT_2→CLOSE
// (or CLOSING→CLOSE), never →TIME_WAIT.
type Change struct {
	// Time is when the kernel changed the state, as wall-clock time:
	// comparable with time.Now and with the kernel's timestamps on
	// packets to within a microsecond.
	Time time.Time
	// Socket is the kernel's address of the socket (skaddr). It tells
	// sockets apart while their ports are not known yet: a connecting
	// socket's CLOSE→SYN_SENT has local port 0, and the same Socket as
	// its SYN_SENT→ESTABLISHED, which has the port. The kernel reuses
	// the address once the socket is freed.
	Socket uint64
	// Local and Remote are the socket's addresses seen from its own
	// end, IPv4-mapped IPv6 addresses unmapped; a part the socket does
	// not have yet is the zero AddrPort (a listener's Remote).
	Local, Remote netip.AddrPort
	From, To      State
}

// WatchConfig configures [Watch].
type WatchConfig struct {
	// Ports selects what is reported: only changes of TCP sockets
	// whose local or remote port is one of these. With none, nothing
	// is reported until [Watcher.SetPorts] gives some. Port 0 is
	// refused. A socket whose local port is watched but whose remote
	// port is not misses its CLOSE→SYN_SENT, which has local port 0.
	Ports []uint16
	// Handler receives the changes in batches, never concurrently:
	// from the watcher's goroutine, or from the goroutine calling
	// [Watcher.Sync] or [Watcher.Close]. Each batch is in time order,
	// and each socket's changes come in the order the kernel made them
	// from one batch to the next too. It may call [Watcher.SetPorts]
	// but not Sync or Close, which would wait for it.
	Handler func(Change)
}

// WatchStats counts what a [Watcher] saw, as [Watcher.Close] returns it.
type WatchStats struct {
	Changes uint64 // changes handed to Handler
	// Lost counts the changes the kernel dropped because a ring was
	// full, as PERF_RECORD_LOST tells; Close adds those dropped last,
	// which no PERF_RECORD_LOST tells.
	Lost uint64
}

// ErrPermission is matched by the error [Watch] returns when the kernel
// refuses perf_event_open or the tracepoint's files in tracefs (EACCES,
// EPERM): reading the kernel's state changes needs root, or at least
// CAP_PERFMON (or CAP_SYS_ADMIN) for perf_event_open and read access
// to tracefs, which is root's (CAP_DAC_READ_SEARCH). It is
// [fs.ErrPermission].
var ErrPermission = fs.ErrPermission

// Watcher reads the kernel's changes of TCP state as they happen and
// hands them to a function; [Watch] starts one. Where [WaitState] polls
// for the state a socket is in, a Watcher sees every state it passes
// through, even those that last microseconds (SYN_RECV, LAST_ACK), with
// the kernel's time of each change.
//
// It holds one perf event per online CPU on the tracepoint
// sock:inet_sock_set_state, each with a 64 KiB ring (some 680 changes)
// that the kernel fills and the Watcher drains: from its goroutine when
// the kernel says a ring is a quarter full, and whenever [Watcher.Sync]
// or [Watcher.Close] is called. What a ring cannot hold while the
// goroutine comes is lost, and counted in [WatchStats].Lost: tens of
// thousands of changes a second on one CPU can do that. A CPU brought
// online after Watch is not watched.
type Watcher struct {
	handler func(Change)
	layout  layout
	attr    unix.PerfEventAttr
	pages   int // data pages of each ring
	cpus    []int
	epfd    int // epoll on the rings' events and on kick
	kick    int // eventfd: wakes the goroutine, to release retired rings or to stop
	stop    atomic.Bool
	done    chan struct{}
	loopErr error // why the goroutine stopped early; read after done

	setMu   sync.Mutex // SetPorts against SetPorts and Close; guards what follows
	filter  string
	stopped bool // Close has disabled the events

	ringsMu sync.Mutex // held briefly, never around the handler; guards what follows
	rings   []*ring    // the events that report, one per CPU (two during SetPorts)
	retired []*ring    // events SetPorts disabled: drained once more, then released
	windows []*window  // SetPorts calls whose changes may be reported twice

	mu      sync.Mutex // one drain at a time; guards what follows
	closed  bool
	stats   WatchStats
	batch   []sample
	scratch []byte
	failed  []error // of releasing retired rings, for Close to return

	closeOnce sync.Once
	closeErr  error
}

// ring is one perf event on one CPU and its mapped ring buffer.
type ring struct {
	cpu     int
	fd      int
	mem     []byte                  // the mapping: metadata page, then data
	meta    *unix.PerfEventMmapPage // mem's first page
	data    []byte                  // the ring proper, a power of two long
	samples uint64                  // PERF_RECORD_SAMPLEs read
	lost    uint64                  // changes PERF_RECORD_LOSTs told of
}

// window is a SetPorts call: from just before the new events were
// enabled to once the old ones were disabled, a change on a port that
// both the old and the new filter keep is recorded twice, in an old
// ring and a new one. Drains hand the first over and drop the second.
// Times are CLOCK_MONOTONIC nanoseconds; to is ^0 while SetPorts runs.
type window struct {
	from, to uint64
	seen     map[Change]bool // changes of the window handed over, without Time
}

// windowPad widens a window on both sides, for records timed a little
// before the new event was enabled or after the old one was disabled.
// No socket makes the same change twice within it.
const windowPad = uint64(time.Millisecond)

func (w *window) holds(t, to uint64) bool {
	return t+windowPad >= w.from && (t <= to || t-to <= windowPad)
}

// sample is a change with the kernel's CLOCK_MONOTONIC time, for sorting.
type sample struct {
	mono uint64
	c    Change
}

// ringBytes is each CPU's ring: 64 KiB holds about 680 changes.
const ringBytes = 64 << 10

// Watch starts reading the kernel's changes of TCP state, through the
// tracepoint sock:inet_sock_set_state, and hands those of sockets on
// cfg.Ports to cfg.Handler until [Watcher.Close]. It needs root
// (CAP_PERFMON): otherwise the error matches [ErrPermission]. It needs
// tracefs mounted (at /sys/kernel/tracing, or /sys/kernel/debug/tracing)
// and a kernel with the tracepoint: otherwise the error matches
// [ErrUnsupported].
//
// The kernel filters the changes by port, so changes of other sockets
// cost nothing here.
func Watch(cfg WatchConfig) (*Watcher, error) {
	if cfg.Handler == nil {
		return nil, errors.New("kernel: state changes: WatchConfig.Handler is nil")
	}
	filter, err := filterFor(cfg.Ports)
	if err != nil {
		return nil, err
	}
	id, lay, err := findTracepoint()
	if err != nil {
		return nil, err
	}
	cpus, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	page := os.Getpagesize()
	pages := 1
	for pages*page < ringBytes {
		pages *= 2
	}
	w := &Watcher{
		handler: cfg.Handler,
		layout:  lay,
		pages:   pages,
		cpus:    cpus,
		epfd:    -1,
		kick:    -1,
		filter:  filter,
		done:    make(chan struct{}),
		attr: unix.PerfEventAttr{
			Type:        unix.PERF_TYPE_TRACEPOINT,
			Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Config:      id,
			Sample:      1, // every firing is a sample
			Sample_type: unix.PERF_SAMPLE_TIME | unix.PERF_SAMPLE_RAW,
			// The kernel wakes the goroutine only when a ring is
			// a quarter full (Sync and Close drain the rest): the
			// wakeup can come milliseconds late under load, and
			// three quarters of the ring wait for it. The clock has
			// to be CLOCK_MONOTONIC: a tracepoint refuses
			// CLOCK_REALTIME and CLOCK_TAI (EINVAL).
			Bits:    unix.PerfBitDisabled | unix.PerfBitWatermark | unix.PerfBitUseClockID,
			Wakeup:  uint32(pages * page / 4),
			Clockid: unix.CLOCK_MONOTONIC,
		},
	}
	if err := w.open(); err != nil {
		for _, r := range w.rings {
			r.close()
		}
		closeFDs(w.epfd, w.kick)
		return nil, err
	}
	go w.loop()
	return w, nil
}

// open opens the epoll and eventfd the goroutine waits on, and opens,
// maps and enables one event per CPU.
func (w *Watcher) open() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("kernel: state changes: epoll_create1: %w", err)
	}
	w.epfd = epfd
	kick, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("kernel: state changes: eventfd: %w", err)
	}
	w.kick = kick
	if err := w.poll(kick); err != nil {
		return err
	}
	w.rings, err = w.openRings(w.filter)
	if err != nil {
		return err
	}
	for _, r := range w.rings {
		if err := unix.IoctlSetInt(r.fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			return fmt.Errorf("kernel: state changes: enabling the event on CPU %d: %w", r.cpu, err)
		}
	}
	return nil
}

func (w *Watcher) poll(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("kernel: state changes: epoll_ctl: %w", err)
	}
	return nil
}

// openRings opens a disabled event with filter on every CPU, maps its
// ring, and adds it to the epoll. On error it closes what it opened.
func (w *Watcher) openRings(filter string) ([]*ring, error) {
	var rings []*ring
	fail := func(err error) ([]*ring, error) {
		for _, r := range rings {
			r.close()
		}
		return nil, err
	}
	page := os.Getpagesize()
	for _, cpu := range w.cpus {
		fd, err := unix.PerfEventOpen(&w.attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return fail(perfError(fmt.Sprintf("perf_event_open (CPU %d)", cpu), err))
		}
		r := &ring{cpu: cpu, fd: fd}
		rings = append(rings, r)
		// The kernel sets a tracepoint event's filter once: a second
		// PERF_EVENT_IOC_SET_FILTER is EEXIST.
		if err := unix.IoctlSetString(fd, unix.PERF_EVENT_IOC_SET_FILTER, filter); err != nil {
			return fail(fmt.Errorf("kernel: state changes: setting the filter %q on CPU %d's event: %w", filter, cpu, err))
		}
		mem, err := unix.Mmap(fd, 0, (1+w.pages)*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fail(perfError(fmt.Sprintf("mapping CPU %d's ring", cpu), err))
		}
		r.mem = mem
		r.meta = (*unix.PerfEventMmapPage)(unsafe.Pointer(&mem[0]))
		off, size := r.meta.Data_offset, r.meta.Data_size
		if size == 0 { // kernels before 4.1 leave these 0
			off, size = uint64(page), uint64(w.pages*page)
		}
		if off+size > uint64(len(mem)) || size&(size-1) != 0 {
			return fail(fmt.Errorf("kernel: state changes: CPU %d's ring is at %d+%d in a mapping of %d bytes", cpu, off, size, len(mem)))
		}
		r.data = mem[off : off+size]
		if err := w.poll(fd); err != nil {
			return fail(err)
		}
	}
	return rings, nil
}

// close unmaps the ring and closes its event, which leaves the epoll.
func (r *ring) close() error {
	var err error
	if r.mem != nil {
		if err = unix.Munmap(r.mem); err != nil {
			err = fmt.Errorf("kernel: state changes: unmapping CPU %d's ring: %w", r.cpu, err)
		}
		r.mem, r.meta, r.data = nil, nil, nil
	}
	unix.Close(r.fd)
	return err
}

// matched reads the event's count: the changes its filter kept,
// including those the kernel could not write because the ring was
// full.
func (r *ring) matched() uint64 {
	var b [8]byte
	if n, err := unix.Read(r.fd, b[:]); err != nil || n != 8 {
		return 0
	}
	return binary.NativeEndian.Uint64(b[:])
}

func closeFDs(fds ...int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// SetPorts replaces the ports whose sockets' changes are reported, while
// the Watcher runs: it applies to the changes the kernel makes after it
// returns (those already in the rings are reported as they are). With
// no ports nothing more is reported. A change made while SetPorts runs,
// on a port of both the old and the new ports, is reported once.
//
// The kernel sets a tracepoint event's filter only once, so SetPorts
// opens a new event and ring per CPU with the new filter, enables them,
// then disables the old ones, which the next drain reads out and
// releases.
func (w *Watcher) SetPorts(ports []uint16) error {
	filter, err := filterFor(ports)
	if err != nil {
		return err
	}
	w.setMu.Lock()
	defer w.setMu.Unlock()
	if w.stopped {
		return fmt.Errorf("kernel: state changes: SetPorts after Close: %w", fs.ErrClosed)
	}
	if filter == w.filter {
		return nil
	}
	fresh, err := w.openRings(filter)
	if err != nil {
		return err
	}
	win := &window{from: monotonic(), to: ^uint64(0), seen: map[Change]bool{}}
	w.ringsMu.Lock()
	old := w.rings
	w.rings = append(slices.Clone(old), fresh...) // drains read both from now
	w.windows = append(w.windows, win)
	w.ringsMu.Unlock()

	// swap disables out, once every firing of the tracepoint that
	// began before in was enabled is over: the kernel can drop the
	// record of a change it is making when the event is disabled (its
	// count then says one more than its ring holds), and such a firing
	// would be in neither. Then it waits until no firing can still be
	// writing into out's rings, and retires them for the next drain to
	// release.
	swap := func(in, out []*ring) error {
		grace()
		var errs []error
		for _, r := range out {
			if err := unix.IoctlSetInt(r.fd, unix.PERF_EVENT_IOC_DISABLE, 0); err != nil {
				errs = append(errs, fmt.Errorf("kernel: state changes: disabling CPU %d's event: %w", r.cpu, err))
			}
		}
		grace()
		w.ringsMu.Lock()
		w.rings = in
		w.retired = append(w.retired, out...)
		win.to = monotonic()
		w.ringsMu.Unlock()
		// Have the goroutine release them now rather than at the
		// next wakeup.
		w.wake()
		return errors.Join(errs...)
	}
	for _, r := range fresh {
		if err := unix.IoctlSetInt(r.fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			err = fmt.Errorf("kernel: state changes: enabling CPU %d's new event: %w", r.cpu, err)
			return errors.Join(err, swap(old, fresh))
		}
	}
	w.filter = filter
	return swap(fresh, old)
}

// grace waits until every firing of the tracepoint that began before it
// has written its records: an RCU grace period, which
// membarrier(MEMBARRIER_CMD_GLOBAL) waits for (the kernel runs a
// tracepoint's probes with preemption disabled). Where membarrier
// cannot (CPUs with nohz_full), it sleeps a millisecond, far longer
// than a probe runs.
func grace() {
	const membarrierCmdGlobal = 1
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); errno != 0 {
		time.Sleep(time.Millisecond)
	}
}

// wake makes the goroutine drain, or stop once stop is set.
func (w *Watcher) wake() error {
	_, err := unix.Write(w.kick, binary.NativeEndian.AppendUint64(nil, 1))
	return err
}

// monotonic returns CLOCK_MONOTONIC in nanoseconds, the clock of the
// events' times.
func monotonic() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// Sync hands to Handler, on the calling goroutine, every change that is
// in the rings: it returns once every change the kernel made before the
// call has been handed over. A change is made before a system call that
// makes it returns (Listen, Dial, Close), and before [WaitState] sees
// its state.
func (w *Watcher) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("kernel: state changes: Sync after Close: %w", fs.ErrClosed)
	}
	w.drain(monotonic())
	return nil
}

// Close stops the Watcher: it disables the events, hands to Handler
// what is left in the rings, stops the goroutine, closes the file
// descriptors and unmaps the rings. It returns what the Watcher saw,
// and an error if something failed on the way, the same on every call.
// Lost then also counts the changes the kernel could not write at the
// end of a ring that was full, which no PERF_RECORD_LOST tells (the
// kernel writes one before its next record only).
func (w *Watcher) Close() (WatchStats, error) {
	w.closeOnce.Do(func() {
		var errs []error
		w.stop.Store(true)
		if err := w.wake(); err != nil {
			errs = append(errs, fmt.Errorf("kernel: state changes: stopping the goroutine: %w", err))
		} else {
			<-w.done
			errs = append(errs, w.loopErr)
		}
		w.setMu.Lock()
		w.stopped = true // SetPorts leaves the events alone from now
		w.ringsMu.Lock()
		rings := w.rings
		w.ringsMu.Unlock()
		// The counts are read before the events are disabled, and
		// the changes they count are written before: the kernel can
		// drop the record of a change it is making when the event is
		// disabled, which is no full ring's doing.
		matched := make([]uint64, len(rings))
		for i, r := range rings {
			matched[i] = r.matched()
		}
		grace()
		for _, r := range rings {
			if err := unix.IoctlSetInt(r.fd, unix.PERF_EVENT_IOC_DISABLE, 0); err != nil {
				errs = append(errs, fmt.Errorf("kernel: state changes: disabling the event on CPU %d: %w", r.cpu, err))
			}
		}
		grace()
		w.setMu.Unlock()

		w.mu.Lock()
		defer w.mu.Unlock()
		w.drain(^uint64(0)) // everything: the events are disabled
		for i, r := range rings {
			if matched[i] > r.samples+r.lost {
				w.stats.Lost += matched[i] - r.samples - r.lost
			}
			errs = append(errs, r.close())
		}
		w.ringsMu.Lock()
		w.rings = nil
		w.ringsMu.Unlock()
		closeFDs(w.epfd, w.kick)
		w.closed = true
		w.closeErr = errors.Join(append(errs, w.failed...)...)
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats, w.closeErr
}

// loop drains the rings whenever the kernel says one is a quarter
// full, or SetPorts has retired some, until Close sets stop.
func (w *Watcher) loop() {
	defer close(w.done)
	events := make([]unix.EpollEvent, 16)
	var b [8]byte
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			w.loopErr = fmt.Errorf("kernel: state changes: epoll_wait: %w; only Sync and Close drained the rings since", err)
			return
		}
		for _, ev := range events[:n] {
			switch {
			case int(ev.Fd) == w.kick:
				unix.Read(w.kick, b[:]) // reset the eventfd
				if w.stop.Load() {
					return
				}
			case ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0:
				// An event that can report no more (its CPU went
				// offline): stop polling it, so as not to spin;
				// Sync and Close still drain its ring.
				unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			}
		}
		w.mu.Lock()
		if !w.closed {
			w.drain(monotonic())
		}
		w.mu.Unlock()
	}
}

// drain reads every ring and hands the changes made up to cutoff (a
// CLOCK_MONOTONIC time taken before the call) to the handler, sorted by
// time; it keeps the later ones for the next drain. Then it releases
// the rings SetPorts retired. The caller holds mu.
//
// The cutoff keeps each socket's changes in order from one drain to the
// next, though the rings are read one after the other: a change is
// written before the kernel goes on to what follows from it, so every
// change that led to one made before cutoff is in the rings when they
// are read, and is handed over with it.
func (w *Watcher) drain(cutoff uint64) {
	offset := wallOffset()
	w.ringsMu.Lock()
	rings := append(slices.Clone(w.rings), w.retired...)
	retired := w.retired
	w.retired = nil
	// A window that is over has both its records of a change in
	// the rings now, and its old rings are among retired: after this
	// drain it is done with.
	var over []*window
	for _, x := range w.windows {
		if x.to != ^uint64(0) {
			over = append(over, x)
		}
	}
	w.ringsMu.Unlock()

	fresh := len(w.batch) // after the changes the last drain kept back
	for _, r := range rings {
		w.scratch = r.read(w.scratch, func(typ uint32, body []byte) {
			switch typ {
			case unix.PERF_RECORD_SAMPLE:
				r.samples++
				if s, ok := w.layout.parseSample(body); ok {
					w.batch = append(w.batch, s)
				}
			case unix.PERF_RECORD_LOST: // u64 id, u64 lost
				if len(body) >= 16 {
					n := binary.NativeEndian.Uint64(body[8:])
					r.lost += n
					w.stats.Lost += n
				}
			}
		})
	}

	// Drop the second record of a change recorded twice during a
	// SetPorts. The windows are looked at after the rings are read:
	// a change with two records was made after its window began, so
	// its window is among them.
	w.ringsMu.Lock()
	type win struct {
		*window
		to uint64
	}
	var wins []win
	for _, x := range w.windows {
		wins = append(wins, win{x, x.to})
	}
	w.windows = slices.DeleteFunc(w.windows, func(x *window) bool { return slices.Contains(over, x) })
	w.ringsMu.Unlock()
	if len(wins) > 0 {
		// Those kept back were deduplicated when they were read.
		kept := slices.DeleteFunc(w.batch[fresh:], func(s sample) bool {
			dup := false
			for _, x := range wins {
				if x.holds(s.mono, x.to) {
					dup = dup || x.seen[s.c]
					x.seen[s.c] = true
				}
			}
			return dup
		})
		w.batch = w.batch[:fresh+len(kept)]
	}

	slices.SortStableFunc(w.batch, func(a, b sample) int {
		switch {
		case a.mono < b.mono:
			return -1
		case a.mono > b.mono:
			return 1
		}
		return 0
	})
	n := len(w.batch)
	for n > 0 && w.batch[n-1].mono > cutoff {
		n--
	}
	for i := range w.batch[:n] {
		c := w.batch[i].c
		c.Time = time.Unix(0, int64(w.batch[i].mono)+offset)
		w.stats.Changes++
		w.handler(c)
	}
	// Keep the changes made after cutoff for the next drain.
	k := copy(w.batch, w.batch[n:])
	clear(w.batch[k:]) // drop the Changes' addresses
	w.batch = w.batch[:k]

	// A retired ring was disabled, and its last records written,
	// before it was retired: read once more, it is done with.
	for _, r := range retired {
		if err := r.close(); err != nil {
			w.failed = append(w.failed, err)
		}
	}
}

// wallOffset returns CLOCK_REALTIME minus CLOCK_MONOTONIC, in
// nanoseconds: what turns the kernel's time of a change into wall-clock
// time. The realtime clock is read on both sides of the monotonic one,
// and their midpoint taken. The difference only moves when the clock is
// set (or the machine resumes from suspend), not as NTP slews it.
func wallOffset() int64 {
	// The goroutine may be preempted between two readings, which would
	// put the offset off by as long: of a few tries, keep the one whose
	// two wall-clock readings are closest.
	best, gap := int64(0), int64(-1)
	for range 5 {
		var r1, m, r2 unix.Timespec
		unix.ClockGettime(unix.CLOCK_REALTIME, &r1)
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
		unix.ClockGettime(unix.CLOCK_REALTIME, &r2)
		if d := r2.Nano() - r1.Nano(); gap < 0 || d < gap {
			best, gap = r1.Nano()+d/2-m.Nano(), d
		}
	}
	return best
}

// read hands each record between the ring's tail and its head to fn,
// with the record's type and its body (the bytes after the 8-byte
// header), then moves the tail to the head. A record that wraps around
// the end of the ring is copied into scratch, which read returns,
// grown if needed.
func (r *ring) read(scratch []byte, fn func(typ uint32, body []byte)) []byte {
	head := atomic.LoadUint64(&r.meta.Data_head) // the kernel's writes before it are visible
	tail := atomic.LoadUint64(&r.meta.Data_tail)
	size := uint64(len(r.data))
	if head-tail > size { // cannot happen unless the kernel and we disagree
		atomic.StoreUint64(&r.meta.Data_tail, head)
		return scratch
	}
	// at returns n bytes of the ring from position p.
	at := func(p, n uint64) []byte {
		start := p & (size - 1)
		if start+n <= size {
			return r.data[start : start+n]
		}
		if uint64(cap(scratch)) < n {
			scratch = make([]byte, n)
		}
		b := scratch[:n]
		k := copy(b, r.data[start:])
		copy(b[k:], r.data)
		return b
	}
	for head-tail >= 8 {
		// struct perf_event_header: u32 type, u16 misc, u16 size.
		h := at(tail, 8)
		typ := binary.NativeEndian.Uint32(h)
		n := uint64(binary.NativeEndian.Uint16(h[6:]))
		if n < 8 || n > head-tail {
			break // a broken record: skip the rest
		}
		fn(typ, at(tail+8, n-8))
		tail += n
	}
	// Every record up to head is read (or skipped): give the space
	// back to the kernel.
	atomic.StoreUint64(&r.meta.Data_tail, head)
	return scratch
}

// field is where a field of the tracepoint's record is, as its format
// file says.
type field struct{ off, size int }

// layout is where the fields this package reads are in the record of
// sock:inet_sock_set_state.
type layout struct {
	skaddr, oldstate, newstate, sport, dport, family, protocol field
	saddr, daddr, saddrV6, daddrV6                             field
}

// parseFormat reads a tracepoint's format file: lines such as
//
//	field:__u16 sport;	offset:24;	size:2;	signed:0;
//
// and returns where the fields this package needs are, or an error that
// names the first missing one.
func parseFormat(text string) (layout, error) {
	found := map[string]field{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "field:") {
			continue
		}
		var name string
		f := field{off: -1, size: -1}
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), ":")
			switch k {
			case "field": // "const void * skaddr", "__u8 saddr[4]"
				words := strings.Fields(v)
				if len(words) > 0 {
					name, _, _ = strings.Cut(strings.TrimLeft(words[len(words)-1], "*"), "[")
				}
			case "offset":
				f.off = number(v)
			case "size":
				f.size = number(v)
			}
		}
		if name != "" && f.off >= 0 && f.size >= 0 {
			found[name] = f
		}
	}
	var l layout
	for _, want := range []struct {
		name  string
		sizes []int
		f     *field
	}{
		{"skaddr", []int{8, 4}, &l.skaddr},
		{"oldstate", []int{4}, &l.oldstate},
		{"newstate", []int{4}, &l.newstate},
		{"sport", []int{2}, &l.sport},
		{"dport", []int{2}, &l.dport},
		{"family", []int{2}, &l.family},
		{"protocol", []int{2}, &l.protocol},
		{"saddr", []int{4}, &l.saddr},
		{"daddr", []int{4}, &l.daddr},
		{"saddr_v6", []int{16}, &l.saddrV6},
		{"daddr_v6", []int{16}, &l.daddrV6},
	} {
		f, ok := found[want.name]
		if !ok {
			return l, fmt.Errorf("no field %s", want.name)
		}
		if !slices.Contains(want.sizes, f.size) {
			return l, fmt.Errorf("field %s has %d bytes, not %d", want.name, f.size, want.sizes[0])
		}
		*want.f = f
	}
	return l, nil
}

// number reads a field's offset or size: -1 when it is not a number
// below 64 Ki, which no record of a tracepoint reaches.
func number(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= 1<<16 {
		return -1
	}
	return n
}

// parseSample reads the body of a PERF_RECORD_SAMPLE with
// PERF_SAMPLE_TIME|PERF_SAMPLE_RAW: u64 time, u32 size, then the
// tracepoint's record. It reports false for a record too short for the
// fields, and for anything but a TCP socket of AF_INET or AF_INET6.
func (l *layout) parseSample(body []byte) (sample, bool) {
	if len(body) < 12 {
		return sample{}, false
	}
	mono := binary.NativeEndian.Uint64(body)
	n := binary.NativeEndian.Uint32(body[8:])
	if uint64(n) > uint64(len(body)-12) {
		return sample{}, false
	}
	raw := body[12 : 12+n]
	get := func(f field) []byte {
		if f.off+f.size > len(raw) {
			return nil
		}
		return raw[f.off : f.off+f.size]
	}
	u16 := func(f field) (uint16, bool) {
		b := get(f)
		if b == nil {
			return 0, false
		}
		return binary.NativeEndian.Uint16(b), true
	}
	state := func(f field) (State, bool) {
		b := get(f)
		if b == nil {
			return 0, false
		}
		v := int32(binary.NativeEndian.Uint32(b))
		return State(v), v >= 0 && v <= 255
	}
	proto, ok1 := u16(l.protocol)
	family, ok2 := u16(l.family)
	sport, ok3 := u16(l.sport)
	dport, ok4 := u16(l.dport)
	from, ok5 := state(l.oldstate)
	to, ok6 := state(l.newstate)
	sk := get(l.skaddr)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || sk == nil || proto != unix.IPPROTO_TCP {
		return sample{}, false
	}
	var src, dst netip.Addr
	switch family {
	case unix.AF_INET:
		s, d := get(l.saddr), get(l.daddr)
		if s == nil || d == nil {
			return sample{}, false
		}
		src, dst = netip.AddrFrom4([4]byte(s)), netip.AddrFrom4([4]byte(d))
	case unix.AF_INET6:
		s, d := get(l.saddrV6), get(l.daddrV6)
		if s == nil || d == nil {
			return sample{}, false
		}
		src, dst = netip.AddrFrom16([16]byte(s)), netip.AddrFrom16([16]byte(d))
	default:
		return sample{}, false
	}
	c := Change{
		Local:  norm(netip.AddrPortFrom(src, sport)),
		Remote: norm(netip.AddrPortFrom(dst, dport)),
		From:   from,
		To:     to,
	}
	if len(sk) == 8 {
		c.Socket = binary.NativeEndian.Uint64(sk)
	} else {
		c.Socket = uint64(binary.NativeEndian.Uint32(sk))
	}
	return sample{mono: mono, c: c}, true
}

// filterFor returns the kernel's filter for the tracepoint that keeps
// the changes of TCP sockets on ports:
// "protocol == 6 && (sport == 80 || dport == 80)"; with no ports, one
// that keeps nothing.
func filterFor(ports []uint16) (string, error) {
	ports = slices.Clone(ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if len(ports) == 0 {
		return "protocol == 0", nil // no TCP socket, nor any other, has protocol 0
	}
	if ports[0] == 0 {
		return "", errors.New("kernel: state changes: port 0 is no port to watch: give the port a socket is bound to")
	}
	var b strings.Builder
	b.WriteString("protocol == 6 && (")
	for i, p := range ports {
		if i > 0 {
			b.WriteString(" || ")
		}
		fmt.Fprintf(&b, "sport == %d || dport == %d", p, p)
	}
	b.WriteString(")")
	// The kernel takes a filter shorter than a page.
	if b.Len() >= os.Getpagesize() {
		return "", fmt.Errorf("kernel: state changes: %d ports make a filter of %d bytes, longer than the kernel takes (%d): watch fewer ports", len(ports), b.Len(), os.Getpagesize()-1)
	}
	return b.String(), nil
}

// tracingDirs are where tracefs may be: its own mount point, and the
// older place under debugfs.
var tracingDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// findTracepoint returns the id of sock:inet_sock_set_state and the
// layout of its records, from tracefs.
func findTracepoint() (uint64, layout, error) {
	var denied error
	for _, dir := range tracingDirs {
		tp := dir + "/events/sock/inet_sock_set_state"
		b, err := os.ReadFile(tp + "/id")
		if err != nil {
			if denied == nil && errors.Is(err, ErrPermission) {
				denied = err
			}
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, layout{}, fmt.Errorf("kernel: state changes: %s/id: %w", tp, err)
		}
		text, err := os.ReadFile(tp + "/format")
		if err != nil {
			return 0, layout{}, tracefsError(err)
		}
		l, err := parseFormat(string(text))
		if err != nil {
			return 0, layout{}, fmt.Errorf("kernel: state changes: %s/format: %v; this kernel's tracepoint is not one this package reads: %w", tp, err, ErrUnsupported)
		}
		return id, l, nil
	}
	if denied != nil {
		return 0, layout{}, tracefsError(denied)
	}
	dir := tracingDirs[0]
	if _, err := os.Stat(dir + "/events"); err != nil {
		if errors.Is(err, ErrPermission) {
			return 0, layout{}, tracefsError(err)
		}
		return 0, layout{}, fmt.Errorf("kernel: state changes: tracefs is not mounted at %s (sudo mount -t tracefs nodev %s): %v: %w", dir, dir, err, ErrUnsupported)
	}
	return 0, layout{}, fmt.Errorf("kernel: state changes: this kernel has no tracepoint sock:inet_sock_set_state (%s/events/sock/inet_sock_set_state; Linux 4.16 or later has it): %w", dir, ErrUnsupported)
}

func tracefsError(err error) error {
	if errors.Is(err, ErrPermission) {
		return fmt.Errorf("kernel: state changes need root (tracefs is root's): %w", err)
	}
	return fmt.Errorf("kernel: state changes: %w", err)
}

// perfError wraps an error of perf_event_open or mmap: refused, it
// needs root.
func perfError(what string, err error) error {
	if errors.Is(err, ErrPermission) {
		return fmt.Errorf("kernel: state changes need root (CAP_PERFMON): %s: %w", what, err)
	}
	return fmt.Errorf("kernel: state changes: %s: %w", what, err)
}

// onlineCPUs reads the CPUs that are online, from a list such as
// "0-3,6,8-9".
func onlineCPUs() ([]int, error) {
	const path = "/sys/devices/system/cpu/online"
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kernel: state changes: which CPUs are online: %w", err)
	}
	cpus, err := parseCPUList(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("kernel: state changes: %s: %w", path, err)
	}
	return cpus, nil
}

func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first || last-first > 1<<16 {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		for cpu := first; cpu <= last; cpu++ {
			cpus = append(cpus, cpu)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("bad CPU list %q", s)
	}
	return cpus, nil
}
