package bench

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime (14) = 250, stime (15) = 50 ticks,
	// num_threads (20) = 9.
	stat := "1234 (odd) name (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 12345 1000000 500 18446744073709551615\n"
	cpu, threads, err := parseStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 3*time.Second || threads != 9 {
		t.Fatalf("cpu %v threads %d, want 3s and 9", cpu, threads)
	}
	if _, _, err := parseStat([]byte("1234 (short) S 1 2")); err == nil {
		t.Fatal("a short stat line parsed")
	}
}

func TestReadProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.RSS <= 0 || p.HWM < p.RSS || p.Threads < 1 {
		t.Fatalf("implausible reading %+v", p)
	}
	s, err := StartSampler(os.Getpid(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mark(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if peak, _ := s.Peak(); peak <= 0 {
		t.Fatalf("peak %d", peak)
	}
	if _, err := ReadProc(1 << 30); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("ReadProc of no process: %v", err)
	}
}

func TestStatusKB(t *testing.T) {
	status := "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"
	if got := statusKB([]byte(status), "VmRSS:"); got != 1024 {
		t.Fatalf("VmRSS %d", got)
	}
	if got := statusKB([]byte(status), "VmSwap:"); got != 0 {
		t.Fatalf("absent key %d", got)
	}
	if !strings.Contains(status, "VmHWM") || statusKB([]byte(status), "VmHWM:") != 2048 {
		t.Fatal("VmHWM")
	}
}
