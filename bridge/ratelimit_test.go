package bridge_test

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"testing"
)

const rateConfig = `
http:
  listen: "127.0.0.1:0"
  client_rate_limit: {per_second: 2, burst: 5}
admin: {listen: ""}
nats:
  embedded: {listen: "127.0.0.1:-1", store_dir: "${STORE}"}
sources:
  github:
    verify: github
    secrets: ["` + githubSecret + `"]
  bulk:
    verify: none
    rate_limit: {per_second: 1, burst: 3}
  other:
    verify: none
`

// clientFrom sends requests from a given loopback address, as a distinct client.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func statusOf(t *testing.T, c *http.Client, addr, path string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestRateLimits: a flood from one address gets 429 with Retry-After while another address is
// served; a flood against one source gets 429 while another source is served.
func TestRateLimits(t *testing.T) {
	h := start(t, loadConfig(t, rateConfig, map[string]string{"STORE": t.TempDir()}))
	flooder, calm := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	limited := 0
	for i := range 20 {
		body := issuesBody(strconv.Itoa(i))
		code, ra := statusOf(t, flooder, h.addrs.HTTP, "/webhooks/github", body, githubHeaders("f"+strconv.Itoa(i), "issues", body, githubSecret))
		switch code {
		case 200:
		case 429:
			limited++
			if n, err := strconv.Atoi(ra); err != nil || n < 1 {
				t.Fatalf("429 with Retry-After %q", ra)
			}
		default:
			t.Fatalf("flood answer %d", code)
		}
	}
	if limited < 10 {
		t.Fatalf("only %d of 20 flood requests limited (burst 5, 2/s)", limited)
	}
	body := issuesBody("calm")
	if code, _ := statusOf(t, calm, h.addrs.HTTP, "/webhooks/github", body, githubHeaders("calm", "issues", body, githubSecret)); code != 200 {
		t.Fatalf("another client was refused: %d", code)
	}

	// Per source: bulk allows a burst of 3, other is unlimited (from distinct addresses, so
	// the client limit does not interfere).
	bulkLimited := 0
	for i := range 8 {
		c := clientFrom("127.0.1." + strconv.Itoa(i+1))
		code, _ := statusOf(t, c, h.addrs.HTTP, "/webhooks/bulk", []byte(strconv.Itoa(i)), nil)
		if code == 429 {
			bulkLimited++
		}
	}
	if bulkLimited < 4 {
		t.Fatalf("bulk source limited %d of 8 (burst 3, 1/s)", bulkLimited)
	}
	if code, _ := statusOf(t, clientFrom("127.0.2.1"), h.addrs.HTTP, "/webhooks/other", []byte("x"), nil); code != 200 {
		t.Fatalf("other source refused: %d", code)
	}
}
