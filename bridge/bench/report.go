package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Labels that the report groups by: what ran ("variant": noop, naive, hookbus-default, …),
// on which store ("store": disk, tmpfs) and in which round of the interleaving ("round").
const (
	LabelVariant = "variant"
	LabelStore   = "store"
	LabelRound   = "round"
)

// Pair is a comparison of two variants measured in the same rounds: A/B ratios of CPU per
// request and of throughput. Keys are "variant@store" ("noop@-" for no store).
type Pair struct{ A, B string }

// FloorPair compares Target with the floor: the no-op HTTP server's CPU per request plus
// the raw publish's CPU per message, both of the same round.
type FloorPair struct{ Noop, Floor, Target string }

// ReportConfig says which comparisons to print.
type ReportConfig struct {
	Pairs  []Pair
	Floors []FloorPair
}

// record is one result line, reduced to what the report compares.
type record struct {
	kind   string
	labels map[string]string
	cpu    float64 // server CPU µs per stored request (load) or per message (floor)
	thr    float64 // per second
	load   *LoadResult
	line   json.RawMessage
}

func (r *record) key() string {
	store := r.labels[LabelStore]
	if store == "" {
		store = "-"
	}
	return r.labels[LabelVariant] + "@" + store
}

// ReadResults reads JSON result lines (as written by hookbus-bench --json); blank lines and
// lines starting with '#' are skipped.
func readResults(in io.Reader) ([]*record, error) {
	var out []*record
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var head struct {
			Kind   string            `json:"kind"`
			Labels map[string]string `json:"labels"`
		}
		if err := json.Unmarshal([]byte(line), &head); err != nil {
			return nil, fmt.Errorf("bench: results line %d: %w", n, err)
		}
		r := &record{kind: head.Kind, labels: head.Labels, line: json.RawMessage(line)}
		if r.labels == nil {
			r.labels = map[string]string{}
		}
		switch head.Kind {
		case "load":
			var l LoadResult
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				return nil, fmt.Errorf("bench: results line %d: %w", n, err)
			}
			r.load, r.thr = &l, l.Throughput
			if l.Server != nil {
				r.cpu = l.Server.CPUPerOK
			}
		case "floor":
			var f FloorResult
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				return nil, fmt.Errorf("bench: results line %d: %w", n, err)
			}
			r.cpu, r.thr = f.CPUPerMsg, f.Throughput
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// Report reads result lines from in and writes the markdown tables: every variant's medians,
// then each pair round by round with the median of its per-round ratios, then the floor
// comparisons and the other figures.
func Report(w io.Writer, in io.Reader, cfg ReportConfig) error {
	recs, err := readResults(in)
	if err != nil {
		return err
	}
	byKey := map[string][]*record{}
	var keys []string
	for _, r := range recs {
		if r.kind != "load" && r.kind != "floor" {
			continue
		}
		k := r.key()
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	bw := bufio.NewWriter(w)
	if len(keys) > 0 {
		fmt.Fprintln(bw, "### Every variant (medians over rounds)")
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "| variant@store | runs | CPU µs/req | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | peak RSS MB | non-2xx | checks |")
		fmt.Fprintln(bw, "|---|---|---|---|---|---|---|---|---|---|---|")
	}
	for _, k := range keys {
		rs := byKey[k]
		var cpu, thr, p50, p90, p99, p999 []float64
		var rss float64
		var bad, checked, checkOK int64
		for _, r := range rs {
			cpu, thr = append(cpu, r.cpu), append(thr, r.thr)
			if l := r.load; l != nil {
				p50, p90 = append(p50, l.Latency.P50), append(p90, l.Latency.P90)
				p99, p999 = append(p99, l.Latency.P99), append(p999, l.Latency.P999)
				for code, n := range l.Status {
					if !strings.HasPrefix(code, "2") {
						bad += n
					}
				}
				bad += l.Errors
				if l.Server != nil && l.Server.PeakRSSMB > rss {
					rss = l.Server.PeakRSSMB
				}
				if l.Check != nil {
					checked++
					if l.Check.OK {
						checkOK++
					}
				}
			}
		}
		if len(p50) == 0 { // no load runs: no latency, server or statuses to show
			fmt.Fprintf(bw, "| %s | %d | %s | %s | — | — | — | — | — | — | — |\n", k, len(rs), num(median(cpu)), num(median(thr)))
			continue
		}
		checks := "—"
		if checked > 0 {
			checks = fmt.Sprintf("%d/%d ok", checkOK, checked)
			if checkOK < checked {
				checks = "**FAILED** " + checks
			}
		}
		fmt.Fprintf(bw, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %d | %s |\n", k, len(rs),
			num(median(cpu)), num(median(thr)), ms(median(p50)), ms(median(p90)), ms(median(p99)), ms(median(p999)),
			num(rss), bad, checks)
	}
	for _, p := range cfg.Pairs {
		writePair(bw, p, byKey)
	}
	for _, f := range cfg.Floors {
		writeFloor(bw, f, byKey)
	}
	writeOthers(bw, recs)
	return bw.Flush()
}

// byRound indexes results by their round label.
func byRound(rs []*record) map[string]*record {
	m := map[string]*record{}
	for _, r := range rs {
		m[r.labels[LabelRound]] = r
	}
	return m
}

func rounds(sets ...map[string]*record) []string {
	var out []string
	for r := range sets[0] {
		ok := true
		for _, s := range sets[1:] {
			if _, in := s[r]; !in {
				ok = false
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, errA := strconv.Atoi(out[i])
		b, errB := strconv.Atoi(out[j])
		if errA == nil && errB == nil {
			return a < b
		}
		return out[i] < out[j]
	})
	return out
}

func writePair(w io.Writer, p Pair, byKey map[string][]*record) {
	fmt.Fprintf(w, "\n### %s vs %s\n\n", p.A, p.B)
	as, bs := byRound(byKey[p.A]), byRound(byKey[p.B])
	rs := rounds(as, bs)
	if len(rs) == 0 {
		fmt.Fprintln(w, "no round ran both.")
		return
	}
	fmt.Fprintln(w, "| round | A CPU µs/req | B CPU µs/req | CPU A/B | A req/s | B req/s | req/s A/B |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	var ac, bc, cr, at, bt, tr []float64
	for _, r := range rs {
		a, b := as[r], bs[r]
		c, t := ratio(a.cpu, b.cpu), ratio(a.thr, b.thr)
		ac, bc, cr = append(ac, a.cpu), append(bc, b.cpu), append(cr, c)
		at, bt, tr = append(at, a.thr), append(bt, b.thr), append(tr, t)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r, num(a.cpu), num(b.cpu), x(c), num(a.thr), num(b.thr), x(t))
	}
	fmt.Fprintf(w, "| **median** | **%s** | **%s** | **%s** | **%s** | **%s** | **%s** |\n",
		num(median(ac)), num(median(bc)), x(median(cr)), num(median(at)), num(median(bt)), x(median(tr)))
}

func writeFloor(w io.Writer, f FloorPair, byKey map[string][]*record) {
	fmt.Fprintf(w, "\n### %s vs the floor (%s + %s)\n\n", f.Target, f.Noop, f.Floor)
	ns, fs, ts := byRound(byKey[f.Noop]), byRound(byKey[f.Floor]), byRound(byKey[f.Target])
	rs := rounds(ts, ns, fs)
	if len(rs) == 0 {
		fmt.Fprintln(w, "no round ran all three.")
		return
	}
	fmt.Fprintln(w, "| round | no-op HTTP µs/req | publish µs/msg | floor µs | target µs/req | target / floor |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	var nv, fv, sum, tv, rv []float64
	for _, r := range rs {
		floor := ns[r].cpu + fs[r].cpu
		q := ratio(ts[r].cpu, floor)
		nv, fv, sum, tv, rv = append(nv, ns[r].cpu), append(fv, fs[r].cpu), append(sum, floor), append(tv, ts[r].cpu), append(rv, q)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r, num(ns[r].cpu), num(fs[r].cpu), num(floor), num(ts[r].cpu), x(q))
	}
	fmt.Fprintf(w, "| **median** | **%s** | **%s** | **%s** | **%s** | **%s** |\n",
		num(median(nv)), num(median(fv)), num(median(sum)), num(median(tv)), x(median(rv)))
}

// writeOthers prints the figures that are not compared in rounds, one line each.
func writeOthers(w io.Writer, recs []*record) {
	var lines []string
	for _, r := range recs {
		var s string
		switch r.kind {
		case "e2e":
			var e E2EResult
			if json.Unmarshal(r.line, &e) != nil {
				continue
			}
			s = fmt.Sprintf("| end to end, webhook → agent handler at %s/s | p50 %s ms, p90 %s ms, p99 %s ms, max %s ms (HTTP p50 %s ms, p99 %s ms); %d of %d handled, %d errors |",
				num(e.Rate), ms(e.E2E.P50), ms(e.E2E.P90), ms(e.E2E.P99), ms(e.E2E.Max), ms(e.HTTP.P50), ms(e.HTTP.P99), e.Handled, e.Acked, e.Errors)
		case "agent":
			var a AgentResult
			if json.Unmarshal(r.line, &a) != nil {
				continue
			}
			s = fmt.Sprintf("| one agent, no-op handler, concurrency %d | %s events/s (%d events; agent CPU %s µs/event, server %s µs/event) |",
				a.Concurrency, num(a.Throughput), a.Handled, num(a.AgentCPU), num(a.ServerCPU))
		case "replay":
			var p ReplayResult
			if json.Unmarshal(r.line, &p) != nil {
				continue
			}
			s = fmt.Sprintf("| replay, ordered consumer | %s messages/s (%d messages, %.1f MB; server CPU %s µs/msg) |",
				num(p.Throughput), p.Messages, float64(p.Bytes)/(1<<20), num(p.ServerCPU))
		case "startup":
			var st StartupResult
			if json.Unmarshal(r.line, &st) != nil {
				continue
			}
			runs := make([]string, len(st.Runs))
			for i, v := range st.Runs {
				runs[i] = num(v)
			}
			s = fmt.Sprintf("| start-up to ready, %s | median %s ms (runs: %s ms; RSS %s MB) |",
				describe(r.labels), num(st.Median), strings.Join(runs, ", "), num(st.RSS))
		case "fill":
			var f FillResult
			if json.Unmarshal(r.line, &f) != nil {
				continue
			}
			s = fmt.Sprintf("| fill (direct async publish), %s | %d events in %.1f s, %s/s |", describe(r.labels), f.Stored, f.Seconds, num(f.Throughput))
		default:
			continue
		}
		lines = append(lines, s)
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "\n### Other figures")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| measurement | result |")
	fmt.Fprintln(w, "|---|---|")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// describe lists the labels other than the round, sorted.
func describe(labels map[string]string) string {
	var parts []string
	for k, v := range labels {
		if k != LabelRound {
			parts = append(parts, k+"="+v)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// num formats a figure with three significant digits, enough for noisy measurements.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func ms(v float64) string { return num(v) }

func x(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "×" }
