package bridge_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const hostileConfig = `
http:
  listen: "127.0.0.1:0"
  read_timeout: 1s
admin: {listen: ""}
nats:
  embedded: {listen: "127.0.0.1:-1", store_dir: "${STORE}"}
sources:
  github:
    verify: github
    secrets: ["` + githubSecret + `"]
`

// TestHostileInput: slow-loris clients are cut at the read timeout while healthy clients are
// served; huge headers, invalid UTF-8, odd content types and path tricks get 4xx and store
// nothing.
func TestHostileInput(t *testing.T) {
	h := start(t, loadConfig(t, hostileConfig, map[string]string{"STORE": t.TempDir()}))

	// Ten slow clients trickling their headers.
	var slow []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", h.addrs.HTTP)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST /webhooks/github HTTP/1.1\r\nHost: x\r\n")
		slow = append(slow, c)
	}
	body := issuesBody("healthy")
	if a := post(t, h.addrs.HTTP, "/webhooks/github", body, githubHeaders("healthy", "issues", body, githubSecret)); a.status != 200 {
		t.Fatalf("healthy client while slow ones hang: %d", a.status)
	}
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("slow client %d not cut by the read timeout: %v", i, err)
		}
	}

	raw := func(req string) int {
		c, err := net.Dial("tcp", h.addrs.HTTP)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, req)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := raw("POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\nContent-Length: 0\r\n\r\n"); code != 431 && code != 0 {
		t.Errorf("huge header: %d, want 431 or a closed connection", code)
	}
	cases := []struct {
		name, path string
		body       []byte
		hdr        map[string]string
		want       int
	}{
		{"invalid utf-8 signed wrongly", "/webhooks/github", []byte{0xff, 0xfe, 0xfd}, map[string]string{"X-GitHub-Event": "issues", "X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)}, 401},
		{"invalid utf-8 genuine", "/webhooks/github", []byte{0xff, 0xfe}, githubHeaders("u8", "iss\xffues", []byte{0xff, 0xfe}, githubSecret), 200},
		{"multipart is raw bytes", "/webhooks/github", []byte("--b\r\n\r\nx\r\n--b--"), map[string]string{"Content-Type": "multipart/form-data; boundary=b", "X-GitHub-Event": "push", "X-Hub-Signature-256": githubSign([]byte("--b\r\n\r\nx\r\n--b--"), githubSecret)}, 200},
		{"dot-dot path", "/webhooks/../webhooks/nope", nil, nil, 404},
		{"encoded slash", "/webhooks/git%2Fhub", nil, nil, 404},
		{"case trick", "/webhooks/GitHub", nil, nil, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if a := post(t, h.addrs.HTTP, tc.path, tc.body, tc.hdr); a.status != tc.want {
				t.Fatalf("%d %s, want %d", a.status, a.body, tc.want)
			}
		})
	}
	for _, m := range stored(t, h.js, "webhooks.>") {
		if strings.ContainsAny(m.Subject, " *>") || !utf8.ValidString(m.Subject) {
			t.Errorf("unsafe subject stored: %q", m.Subject)
		}
	}
}
