package bridge_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// cluster is a NATS JetStream cluster of three servers on loopback: inside the test
// process, or (with a nats-server binary) as three processes that can be killed with
// SIGKILL. Each server keeps its client and route addresses and its store across a stop
// and a start, as a restarted machine would.
type cluster struct {
	t     *testing.T
	bin   string // nats-server binary; "" runs the servers in the test process
	nodes []*clusterNode
}

type clusterNode struct {
	name   string
	client string // host:port for clients
	route  string // host:port for the other servers
	dir    string // JetStream store
	srv    *server.Server
	cmd    *exec.Cmd
}

// startCluster starts three servers, in the test process when bin is "", and stops them
// when the test ends.
func startCluster(t *testing.T, bin string) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: bin}
	base := t.TempDir()
	for i := range 3 {
		c.nodes = append(c.nodes, &clusterNode{
			name:   fmt.Sprintf("n%d", i+1),
			client: freeAddr(t),
			route:  freeAddr(t),
			dir:    filepath.Join(base, fmt.Sprintf("n%d", i+1)),
		})
	}
	for i := range c.nodes {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

// buildNATSServer builds nats-server from the module hookbus depends on, at the version
// go.mod names.
func buildNATSServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	return bin
}

func (c *cluster) start(i int) {
	c.t.Helper()
	n := c.nodes[i]
	var routes []*url.URL
	for _, o := range c.nodes {
		routes = append(routes, &url.URL{Scheme: "nats", Host: o.route})
	}
	if c.bin != "" {
		c.startProcess(n, routes)
		return
	}
	host, port := splitAddr(c.t, n.client)
	rhost, rport := splitAddr(c.t, n.route)
	srv, err := server.NewServer(&server.Options{
		ServerName: n.name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   n.dir,
		Cluster:    server.ClusterOpts{Name: "hookbus-test", Host: rhost, Port: rport},
		Routes:     routes,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		c.t.Fatalf("%s: %v", n.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		c.t.Fatalf("%s not ready", n.name)
	}
	n.srv = srv
}

func (c *cluster) startProcess(n *clusterNode, routes []*url.URL) {
	c.t.Helper()
	var rs []string
	for _, r := range routes {
		rs = append(rs, strconv.Quote(r.String()))
	}
	conf := filepath.Join(filepath.Dir(n.dir), n.name+".conf")
	text := fmt.Sprintf("server_name: %s\nlisten: %q\njetstream { store_dir: %q }\ncluster {\n  name: hookbus-test\n  listen: %q\n  routes: [%s]\n}\n",
		n.name, n.client, n.dir, n.route, strings.Join(rs, ", "))
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		c.t.Fatal(err)
	}
	logs, err := os.OpenFile(filepath.Join(filepath.Dir(n.dir), n.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logs.Close()
	cmd := exec.Command(c.bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = logs, logs
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	n.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", n.client, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not ready: %v", n.name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts server i down in order and waits until it is gone; stopping a stopped server
// does nothing.
func (c *cluster) stop(i int) {
	n := c.nodes[i]
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(os.Interrupt)
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

// kill ends the process of server i with SIGKILL: no leadership handed over, no store
// closed, as a crashed machine.
func (c *cluster) kill(i int) {
	c.t.Helper()
	n := c.nodes[i]
	if n.cmd == nil {
		c.t.Fatalf("%s is not a running process", n.name)
	}
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
	n.cmd = nil
}

// index returns the position of the server named name.
func (c *cluster) index(name string) int {
	c.t.Helper()
	for i, n := range c.nodes {
		if n.name == name {
			return i
		}
	}
	c.t.Fatalf("no server %q", name)
	return -1
}

// urls lists every server, for nats.url.
func (c *cluster) urls() string {
	var u []string
	for _, n := range c.nodes {
		u = append(u, "nats://"+n.client)
	}
	return strings.Join(u, ",")
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// streamCluster returns the WEBHOOKS stream's leader and replicas as the cluster reports
// them, or an error while it cannot say (no meta leader, no stream leader).
func streamCluster(js jetstream.JetStream) (*jetstream.ClusterInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, subjects.StreamWebhooks)
	if err != nil {
		return nil, err
	}
	ci := st.CachedInfo().Cluster
	if ci == nil || ci.Leader == "" {
		return nil, fmt.Errorf("no leader")
	}
	return ci, nil
}

// waitHealthy waits until the WEBHOOKS stream has a leader and both other replicas are
// online and current.
func waitHealthy(t *testing.T, js jetstream.JetStream, within time.Duration) *jetstream.ClusterInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ci, err := streamCluster(js)
		if err == nil && len(ci.Replicas) == 2 {
			ok := true
			for _, r := range ci.Replicas {
				ok = ok && r.Current && !r.Offline
			}
			if ok {
				return ci
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream not healthy within %s: %v %+v", within, err, ci)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const clusterConfig = `
http: {listen: "127.0.0.1:0"}
admin: {listen: ""}
nats:
  url: "${NATS_URLS}"
  publish_timeout: 2s
streams: {replicas: 3}
sources:
  github:
    verify: github
    secrets: ["` + githubSecret + `"]
`

// clusterLoad creates the R3 streams on c, starts two bridges on all of its URLs (as two
// instances behind a load balancer) and a sender spreading fresh deliveries over both,
// and waits until the first ones are stored. It returns a JetStream client of the test's
// own and the leader of WEBHOOKS.
func clusterLoad(t *testing.T, c *cluster) (jetstream.JetStream, *sender, *jetstream.ClusterInfo) {
	t.Helper()
	began := time.Now()
	nc, err := nats.Connect(c.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	// The servers elect their meta leader first; a JetStream request sent before then waits
	// for its whole timeout, so ask with a short one until it answers.
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream: %v", err)
		}
	}
	for {
		err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{Replicas: 3})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ci := waitHealthy(t, js, 30*time.Second)
	t.Logf("cluster up, R3 streams created in %s (WEBHOOKS leader %s)", time.Since(began).Round(time.Millisecond), ci.Leader)
	cfg := loadConfig(t, clusterConfig, map[string]string{"NATS_URLS": c.urls()})
	a, b := startLogged(t, cfg, bridgeLog(t, "a")), startLogged(t, cfg, bridgeLog(t, "b"))
	load := startSender(t, "cl", 4, func() []string { return []string{a.addrs.HTTP, b.addrs.HTTP} })
	load.waitStored(40, 20*time.Second, "before any fault")
	return js, load, ci
}

// TestClusterLeaderLossAndQuorum runs two bridges on a 3-node JetStream cluster in the
// test process with replicated (R3) streams, under a steady load of fresh deliveries, and
//
//   - stops the server leading the WEBHOOKS stream: another takes over and the load goes on;
//   - brings it back, then stops two of the three servers: with no quorum nothing can be
//     stored, and the bridges answer 503 with Retry-After, never a 200 for a new event;
//   - brings them back: the bridges recover by themselves.
//
// In the end every delivery that got a 200 is in the stream exactly once, at the sequence
// its answer named, and every delivery the client retried after a 503 or no answer is
// stored exactly once too.
func TestClusterLeaderLossAndQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node JetStream cluster through faults")
	}
	began := time.Now()
	c := startCluster(t, "")
	js, load, ci := clusterLoad(t, c)

	// 1. The stream leader goes away under load.
	leader := c.index(ci.Leader)
	lost := time.Now()
	c.stop(leader)
	load.waitStored(40, 30*time.Second, "after the leader stopped")
	t.Logf("leader %s stopped: 40 more deliveries stored %s later", ci.Leader, time.Since(lost).Round(time.Millisecond))
	rejoin := time.Now()
	c.start(leader)
	ci = waitHealthy(t, js, 30*time.Second)
	t.Logf("%s back, all replicas current %s later", c.nodes[leader].name, time.Since(rejoin).Round(time.Millisecond))
	load.waitStored(20, 20*time.Second, "after the old leader came back")

	// 2. Two of three stop: no quorum for any stream or bucket.
	down := []int{c.index(ci.Leader), (c.index(ci.Leader) + 1) % 3}
	for _, i := range down {
		c.stop(i)
	}
	from := time.Now()
	time.Sleep(4 * time.Second)
	until := time.Now()
	for _, i := range down {
		c.start(i)
	}
	back := time.Now()
	load.waitStored(40, 45*time.Second, "after quorum came back")
	t.Logf("quorum lost for %s (%s to %s); 40 more deliveries stored %s after it came back", until.Sub(from).Round(time.Millisecond),
		from.Format("15:04:05.000"), until.Format("15:04:05.000"), time.Since(back).Round(time.Millisecond))

	var fresh, unavailable int
	for _, a := range load.attempts() {
		if a.at.Before(from) || a.answer.After(until) || a.answer.IsZero() {
			continue
		}
		switch {
		case a.status == 200 && !a.duplicate:
			fresh++
			t.Errorf("delivery %s stored (200, seq %d) while no quorum existed", a.id, a.seq)
		case a.status == 503:
			unavailable++
		}
	}
	if unavailable == 0 {
		t.Errorf("no 503 while no quorum existed")
	}
	t.Logf("while no quorum: %d answers 503, %d answers 200 for a new event", unavailable, fresh)

	healed := time.Now()
	waitHealthy(t, js, 30*time.Second)
	t.Logf("all replicas current %s later", time.Since(healed).Round(time.Millisecond))
	load.checkExactlyOnce(js)
	t.Logf("took %s", time.Since(began).Round(time.Millisecond))
}

// TestClusterLeaderSIGKILL runs the cluster as three nats-server processes and kills the
// WEBHOOKS stream leader with SIGKILL under load, twice (the second time the leader elected
// after the first kill, with the first victim back): no leadership is handed over, the
// survivors must notice and elect. Zero acknowledged loss, no duplicates, every retried
// delivery stored once.
func TestClusterLeaderSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs a 3-node cluster through faults")
	}
	began := time.Now()
	bin := buildNATSServer(t)
	t.Logf("nats-server built in %s", time.Since(began).Round(time.Millisecond))
	c := startCluster(t, bin)
	js, load, ci := clusterLoad(t, c)
	for round := 1; round <= 2; round++ {
		leader := c.index(ci.Leader)
		killed := time.Now()
		c.kill(leader)
		load.waitStored(40, 30*time.Second, "after the leader was killed")
		t.Logf("kill %d: leader %s killed; 40 more deliveries stored %s later", round, ci.Leader, time.Since(killed).Round(time.Millisecond))
		rejoin := time.Now()
		c.start(leader)
		ci = waitHealthy(t, js, 30*time.Second)
		t.Logf("%s back, all replicas current %s later", c.nodes[leader].name, time.Since(rejoin).Round(time.Millisecond))
		load.waitStored(20, 20*time.Second, "after the killed leader came back")
	}
	load.checkExactlyOnce(js)
	t.Logf("took %s", time.Since(began).Round(time.Millisecond))
}

// bridgeLog is the logger of a bridge named name in a cluster test: its lines, from info
// up, show in the test's output when the test fails.
func bridgeLog(t *testing.T, name string) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Str("bridge", name).Logger()
}
