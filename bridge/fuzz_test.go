package bridge_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// FuzzHandler drives the whole request handler with arbitrary methods, paths, headers and
// bodies against a real stream. It must never panic, answer only statuses of the contract,
// and store only what a genuine signature covers, under a subject of its own source.
func FuzzHandler(f *testing.F) {
	body := issuesBody("fuzz")
	f.Add("POST", "/webhooks/github", "X-GitHub-Event: issues\nX-GitHub-Delivery: f1\nX-Hub-Signature-256: "+githubSign(body, githubSecret), body)
	f.Add("POST", "/webhooks/github", "X-GitHub-Event: a.*.>\nX-Hub-Signature-256: "+githubSign([]byte(`{"action":"x y"}`), githubSecret), []byte(`{"action":"x y"}`))
	f.Add("GET", "/webhooks/../github", "", []byte(nil))
	f.Add("POST", "/webhooks/demo", "X-Signature: sha256=AAAA\nX-Event: \x00", []byte("{"))
	f.Add("POST", "/webhooks/small", "Content-Type: text/plain", []byte(strings.Repeat("z", 2000)))

	ns := embeddedtest.Start(f)
	_, js := embeddedtest.Connect(f, ns)
	if err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{}); err != nil {
		f.Fatal(err)
	}
	cfg := loadConfig(f, testConfig, map[string]string{"STORE": f.TempDir()})
	srv, err := bridge.New(cfg, js, zerolog.Nop())
	if err != nil {
		f.Fatal(err)
	}
	handle := srv.Handler()
	allowed := map[int]bool{200: true, 400: true, 401: true, 404: true, 405: true, 413: true}

	f.Fuzz(func(t *testing.T, method, path, headers string, body []byte) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(path)
		for _, line := range strings.Split(headers, "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				req.Header.Set(k, v)
			}
		}
		req.SetBody(body)
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
		handle(&ctx)
		status := ctx.Response.StatusCode()
		if !allowed[status] {
			t.Fatalf("%s %q answered %d %s", method, path, status, ctx.Response.Body())
		}
		if status != 200 {
			return
		}
		src := strings.TrimPrefix(string(ctx.Request.URI().Path()), "/webhooks/")
		if src == "github" && !strings.EqualFold(string(req.Header.Peek("X-Hub-Signature-256")), githubSign(body, githubSecret)) {
			t.Fatalf("stored a github request without its genuine signature")
		}
		if src == "off" {
			t.Fatal("a disabled source stored an event")
		}
	})
}
