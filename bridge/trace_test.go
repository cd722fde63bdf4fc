package bridge

import "testing"

func TestTraceparent(t *testing.T) {
	valid := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if got := traceparent([]byte(valid)); got != valid {
		t.Fatalf("a valid traceparent was replaced: %s", got)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", valid + "\n"} {
		got := traceparent([]byte(bad))
		if !validTraceparent([]byte(got)) || got == bad {
			t.Errorf("for %q: new traceparent %q is not valid", bad, got)
		}
	}
	if a, b := traceparent(nil), traceparent([]byte{}); a == b {
		t.Error("two new traces share an id")
	}
}

func FuzzTraceparent(f *testing.F) {
	f.Add([]byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if got := traceparent(in); !validTraceparent([]byte(got)) {
			t.Fatalf("traceparent(%q) = %q is not valid", in, got)
		}
	})
}
