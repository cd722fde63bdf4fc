package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"
)

func TestPayload(t *testing.T) {
	for _, size := range []int{MinBodySize, 1024, 4096} {
		p, err := NewPayload(size, "s3cret")
		if err != nil {
			t.Fatal(err)
		}
		id := []byte(DeliveryID{Run: 7, Sender: 3, N: 99}.String())
		sent := time.Now().UnixNano()
		body, sig := p.Build(id, sent)
		if len(body) != size {
			t.Fatalf("size %d: body is %d bytes", size, len(body))
		}
		mac := hmac.New(sha256.New, []byte("s3cret"))
		mac.Write(body)
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); string(sig) != want {
			t.Fatalf("signature %s, want %s", sig, want)
		}
		var doc struct {
			Action string `json:"action"`
			Issue  struct {
				NodeID string `json:"node_id"`
			} `json:"issue"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("body is not JSON: %v\n%s", err, body)
		}
		if doc.Action != "opened" || doc.Issue.NodeID != string(id) {
			t.Fatalf("body carries action %q and id %q", doc.Action, doc.Issue.NodeID)
		}
		stored := append([]byte(nil), body...)
		if got, ok := p.Sent(stored); !ok || got != sent {
			t.Fatalf("Sent = %d, %v; want %d", got, ok, sent)
		}
		if !p.Matches(stored, id) {
			t.Fatal("Matches refuses the body Build made")
		}
		other := []byte(DeliveryID{Run: 7, Sender: 3, N: 100}.String())
		if p.Matches(stored, other) {
			t.Fatal("Matches accepts the body of another id")
		}
		stored[len(stored)-5] ^= 1
		if p.Matches(stored, id) {
			t.Fatal("Matches accepts an altered body")
		}
		if p.Matches(stored[:len(stored)-1], id) {
			t.Fatal("Matches accepts a truncated body")
		}
	}
	if _, err := NewPayload(MinBodySize-1, "x"); err == nil {
		t.Fatal("NewPayload accepted a size below the minimum")
	}
}

func TestDeliveryID(t *testing.T) {
	for _, d := range []DeliveryID{{}, {Run: 0xdeadbeef, Sender: 0xffff, N: 1<<64 - 1}, {Run: 1, Sender: 2, N: 1 << 48}} {
		s := d.String()
		if len(s) != IDLen {
			t.Fatalf("%+v: %q is %d bytes", d, s, len(s))
		}
		got, ok := ParseDeliveryID(s)
		if !ok || got != d {
			t.Fatalf("ParseDeliveryID(%q) = %+v, %v; want %+v", s, got, ok, d)
		}
	}
	for _, s := range []string{"", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "0000000g-0000-0000-0000-000000000000", "00000000-0000-0000-0000-00000000000"} {
		if _, ok := ParseDeliveryID(s); ok {
			t.Fatalf("ParseDeliveryID(%q) accepted it", s)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h, a, b Histogram
	for i := 1; i <= 100000; i++ {
		d := time.Duration(i) * time.Microsecond
		h.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := q * 100000 * float64(time.Microsecond)
		for _, x := range []*Histogram{&h, &a} {
			got := float64(x.Quantile(q))
			if got < want*0.97 || got > want*1.03 {
				t.Errorf("quantile %v = %v, want about %v", q, time.Duration(got), time.Duration(want))
			}
		}
	}
	if h.Quantile(1) != 100*time.Millisecond || h.Count() != 100000 {
		t.Errorf("max %v, count %d", h.Quantile(1), h.Count())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Summary() != (Latency{}) {
		t.Error("an empty histogram reports something")
	}
	for i := 0; i < 2000; i++ {
		v := uint64(i) * 7919
		if got := bucketValue(bucketOf(v)); float64(got) < float64(v)*0.98 || float64(got) > float64(v)*1.02+1 {
			t.Fatalf("value %d lands in a bucket worth %d", v, got)
		}
	}
}
