package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ErrNoProcess is returned when the server's /proc entry cannot be read.
var ErrNoProcess = errors.New("bench: process not readable")

// ProcSample is one reading of a process from /proc.
type ProcSample struct {
	At      time.Time
	CPU     time.Duration // utime + stime, all threads
	RSS     int64         // resident set, bytes
	HWM     int64         // peak resident set since the process started, bytes
	Threads int
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status. Errors wrap ErrNoProcess.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrNoProcess, err)
	}
	cpu, threads, err := parseStat(stat)
	if err != nil {
		return s, fmt.Errorf("%w: pid %d: %w", ErrNoProcess, pid, err)
	}
	s.CPU, s.Threads = cpu, threads
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrNoProcess, err)
	}
	s.RSS = statusKB(status, "VmRSS:") * 1024
	s.HWM = statusKB(status, "VmHWM:") * 1024
	return s, nil
}

// parseStat reads utime, stime and num_threads from the text of /proc/<pid>/stat. The
// command name (field 2) may hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseStat(stat []byte) (cpu time.Duration, threads int, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("no ')' in stat")
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 18 {
		return 0, 0, fmt.Errorf("stat has %d fields after the name", len(f))
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64) // field 14
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64) // field 15
	n, err3 := strconv.Atoi(string(f[17]))                  // field 20
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, 0, err
	}
	return ticks(utime + stime), n, nil
}

func ticks(t uint64) time.Duration { return time.Duration(t) * time.Second / clockTicks }

// statusKB returns the value in kB of a "Key:  123 kB" line of /proc/<pid>/status, 0 when
// absent.
func statusKB(status []byte, key string) int64 {
	i := bytes.Index(status, []byte(key))
	if i < 0 {
		return 0
	}
	line := status[i+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return v
}

// SelfCPU is this process's own CPU time, all threads (getrusage).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Sampler reads a process every interval and keeps the highest resident set seen; Mark
// takes a reading now, to bracket a measured window exactly.
type Sampler struct {
	pid  int
	mu   sync.Mutex
	peak int64
	last ProcSample
	all  []ProcSample // every reading, in time order
	err  error
	stop chan struct{}
	done chan struct{}
}

// StartSampler reads pid at once (returning its error) and then every interval until Stop.
func StartSampler(pid int, interval time.Duration) (*Sampler, error) {
	s := &Sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := s.Mark(); err != nil {
		return nil, err
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				_, _ = s.Mark()
			}
		}
	}()
	return s, nil
}

// Mark reads the process now.
func (s *Sampler) Mark() (ProcSample, error) {
	p, err := ReadProc(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return p, err
	}
	s.last = p
	if n := len(s.all); n == 0 || !p.At.Before(s.all[n-1].At) {
		s.all = append(s.all, p)
	}
	if p.RSS > s.peak {
		s.peak = p.RSS
	}
	return p, nil
}

// Peak is the highest resident set seen, and the kernel's own peak (VmHWM) at the last
// reading.
func (s *Sampler) Peak() (sampled, hwm int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.last.HWM
}

// Samples returns every reading so far, in time order.
func (s *Sampler) Samples() []ProcSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

// Stop ends the sampling and returns the first read error, if any.
func (s *Sampler) Stop() error {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// sleepUntil waits until t or until ctx is done; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
