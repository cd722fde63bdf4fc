package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/ops"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The operator's recovery tools: thin wiring of flags and output around package ops.

// usageErr is a command-line mistake with its explanation: printed, exit status 2.
type usageErr struct{ msg string }

func (e usageErr) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageErr{fmt.Sprintf(format, args...)} }

// stdin and stdinTerminal are the confirmation input of dlq purge (replaced in tests).
var (
	stdin         io.Reader = os.Stdin
	stdinTerminal           = func() bool { return isTerminal(os.Stdin) }
)

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// tool is one run of an ops command: its flags and where it writes.
type tool struct {
	fs              *flag.FlagSet
	config, natsURL string
	json            bool
	stdout, stderr  io.Writer
}

// newTool makes the flag set of command name with the shared flags: --config, --nats
// (unless local is true: the command needs no NATS) and --json. help is printed above
// the flags by --help.
func newTool(name, help string, local bool, stdout, stderr io.Writer) *tool {
	t := &tool{fs: flag.NewFlagSet("hookbus "+name, flag.ContinueOnError), stdout: stdout, stderr: stderr}
	t.fs.SetOutput(stderr)
	t.fs.StringVar(&t.config, "config", defaultConfig, "config file of the bridge (finds NATS, its login, the sources)")
	if !local {
		t.fs.StringVar(&t.natsURL, "nats", "", "NATS URL, instead of the config's (the config's login is kept)")
	}
	t.fs.BoolVar(&t.json, "json", false, "print JSON instead of text")
	t.fs.Usage = func() {
		fmt.Fprint(t.fs.Output(), strings.TrimLeft(help, "\n"), "\nflags:\n")
		t.fs.PrintDefaults()
	}
	return t
}

// parse reads flags and positional arguments in any order; want bounds the positional
// arguments (-1: any number).
func (t *tool) parse(args []string, min, want int) ([]string, error) {
	var pos []string
	for {
		if err := t.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = t.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < min:
		t.fs.Usage()
		return nil, usagef("%s: missing argument", t.fs.Name())
	case want >= 0 && len(pos) > want:
		return nil, usagef("%s: unexpected argument %q", t.fs.Name(), pos[want])
	}
	return pos, nil
}

// set reports whether a flag was given.
func (t *tool) set(name string) bool {
	found := false
	t.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// loadConfig reads the config; a missing default config is no error when --nats says
// where to go (cfg is nil then).
func (t *tool) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(t.config, nil)
	if err != nil && errors.Is(err, fs.ErrNotExist) && !t.set("config") && t.natsURL != "" {
		return nil, nil
	}
	return cfg, err
}

// connect opens the NATS connection the config (or --nats) describes.
func (t *tool) connect() (*nats.Conn, jetstream.JetStream, error) {
	cfg, err := t.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	target, err := ops.TargetOf(cfg, t.natsURL)
	if err != nil {
		return nil, nil, err
	}
	nc, err := ops.Connect(target, "hookbus-"+strings.TrimPrefix(t.fs.Name(), "hookbus "))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// printJSON writes v as indented JSON.
func (t *tool) printJSON(v any) error {
	enc := json.NewEncoder(t.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// progress returns the progress display of a long operation on stderr (none with --json
// unless stderr is a terminal).
func (t *tool) progress(label string) *ops.Progress {
	return ops.NewProgress(t.stderr, isTerminal(t.stderr), label)
}

// interruptible is the context of a command that Ctrl-C (or SIGTERM) stops cleanly.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// ago renders a time with how long ago it was.
func ago(ts time.Time, now time.Time) string {
	if ts.IsZero() {
		return "never"
	}
	return ts.Local().Format("2006-01-02 15:04:05") + " (" + now.Sub(ts).Round(time.Second).String() + " ago)"
}

const agentsHelp = `
usage: hookbus agents [--config FILE | --nats URL] [--json]

Lists every agent: its durable consumer on each stream it reads, with the events not yet
delivered (pending), delivered and not yet acknowledged (ack-pending), redelivered and not
yet acknowledged, when it last received or acknowledged an event, whether a process of it
is waiting for events now (running), and its dead letters (dlq.<agent>).
`

func agentsCmd(args []string, stdout, stderr io.Writer) error {
	t := newTool("agents", agentsHelp, false, stdout, stderr)
	if _, err := t.parse(args, 0, 0); err != nil {
		return err
	}
	nc, js, err := t.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := ops.Agents(ctx, js)
	if err != nil {
		return err
	}
	if t.json {
		return t.printJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no agents: none has created its consumer yet")
		return nil
	}
	now := time.Now()
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "AGENT\tSTREAM\tPENDING\tACK-PENDING\tREDELIVERED\tDEAD LETTERS\tRUNNING\tLAST ACTIVE\tFILTERS")
	for _, a := range list {
		running := "no"
		if a.Pulling {
			running = "yes"
		}
		if len(a.Consumers) == 0 {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t%d\t%s\t-\t(no consumer)\n", a.Name, a.DeadLetters, running)
		}
		for i, c := range a.Consumers {
			dead := ""
			if i == 0 {
				dead = strconv.FormatUint(a.DeadLetters, 10)
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", a.Name, c.Stream, c.Pending, c.AckPending, c.Redelivered,
				dead, running, ago(c.LastActive, now), strings.Join(c.Filters, " "))
		}
	}
	return w.Flush()
}

const rewindHelp = `
usage: hookbus rewind AGENT (--since 2h | --from-time T | --from-seq N [--stream S]) [--dry-run]

Moves the agent's consumers back so that it handles again every event it reads from that
point on; no other agent is touched. The agent gets the stored originals (same ids, not
marked as replays): steps its handler guarded with Event.Once are skipped, events it emits
get the ids they got the first time. A running agent receives them at once, a stopped one
when it starts. Nothing moves when any consumer of the agent would jump over an event it
has not yet acknowledged.

  --since D|T     the first event stored at or after: a duration back from now (90m, 2h,
                  3d, 1w) or a time (2026-05-01T14:00:00Z, "2026-05-01 14:00" local)
  --from-time T   the same, as a time
  --from-seq N    a stream sequence; with an agent reading two streams, --stream says which
`

func rewindCmd(args []string, stdout, stderr io.Writer) error {
	t := newTool("rewind", rewindHelp, false, stdout, stderr)
	since := t.fs.String("since", "", "rewind to the first event stored at or after this duration ago or time")
	fromTime := t.fs.String("from-time", "", "rewind to the first event stored at or after this time")
	fromSeq := t.fs.String("from-seq", "", "rewind to this stream sequence")
	stream := t.fs.String("stream", "", "only the consumer on this stream (WEBHOOKS, AGENTS, DLQ)")
	dry := t.fs.Bool("dry-run", false, "check and report, move nothing")
	pos, err := t.parse(args, 1, 1)
	if err != nil {
		return err
	}
	o := ops.RewindOptions{Agent: pos[0], Stream: *stream, DryRun: *dry}
	n := 0
	for _, s := range []string{*since, *fromTime, *fromSeq} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return usagef("rewind: give exactly one of --since, --from-time and --from-seq")
	}
	now := time.Now()
	switch {
	case *since != "":
		if o.Since, err = ops.ParseTime(*since, now, nil); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
	case *fromTime != "":
		if o.Since, err = ops.ParseTime(*fromTime, now, nil); err != nil {
			return fmt.Errorf("--from-time: %w", err)
		}
	default:
		if o.FromSeq, err = ops.ParseSeq(*fromSeq); err != nil {
			return fmt.Errorf("--from-seq: %w", err)
		}
	}
	if err := o.Validate(now); err != nil {
		return err
	}
	nc, js, err := t.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := ops.Rewind(ctx, js, o)
	if err != nil {
		return err
	}
	if t.json {
		return t.printJSON(res)
	}
	verb, moved := "rewound", 0
	if res.DryRun {
		verb = "would rewind"
	}
	for _, c := range res.Consumers {
		if c.From == 0 {
			fmt.Fprintf(stdout, "%s on %s: left alone: %s\n", res.Agent, c.Stream, c.Note)
			continue
		}
		moved++
		fmt.Fprintf(stdout, "%s %s on %s to seq %d: %d events to handle again (it was at seq %d, everything up to seq %d acknowledged)\n",
			verb, res.Agent, c.Stream, c.From, c.Redeliver, c.Delivered, c.AckFloor)
	}
	if moved > 0 && !res.DryRun {
		fmt.Fprintf(stdout, "%s handles them now if it is running, or as soon as it starts.\n", res.Agent)
	}
	return nil
}

const replayHelp = `
usage: hookbus replay --subject FILTER (--since T | --from-seq N) [--until T] [--to-seq N]
                      [--to-agent A | --to-subject S] [--run ID] [--dry-run]

Publishes copies of the stored events matching FILTER inside the range, in order. Copies
keep the event's id and envelope, carry Hookbus-Replay: true, Hookbus-Replay-Of (the
original id) and where the original lies, and a new Nats-Msg-Id made of the run id and the
original id, so they are stored, and running the same --run again stores nothing twice.

  (default)        each copy goes to its original subject: every agent reading it handles
                   it again
  --to-agent A     only agent A, on agents.A.replay.<subject>, which every agent on the
                   agent SDK reads and handles as <subject> (an agent on another client
                   must read agents.A.replay.>)
  --to-subject S   every copy to subject S

Times are when the stream stored the event (durations count back from now). The range
ends at the stream's last event when the replay starts. Ctrl-C stops after the copies in
flight are stored and says how to resume.
`

func replayCmd(args []string, stdout, stderr io.Writer) error {
	t := newTool("replay", replayHelp, false, stdout, stderr)
	var o ops.ReplayOptions
	var rf ops.RangeFlags
	t.fs.StringVar(&o.Subject, "subject", "", "filter of the events to replay, e.g. webhooks.github.> (required)")
	t.fs.StringVar(&rf.Since, "since", "", "first event: stored at or after this duration ago or time")
	t.fs.StringVar(&rf.Until, "until", "", "last event: stored at or before this duration ago or time")
	t.fs.StringVar(&rf.FromSeq, "from-seq", "", "first stream sequence")
	t.fs.StringVar(&rf.ToSeq, "to-seq", "", "last stream sequence")
	t.fs.StringVar(&o.ToAgent, "to-agent", "", "send the copies to this agent alone")
	t.fs.StringVar(&o.ToSubject, "to-subject", "", "send the copies to this subject")
	t.fs.StringVar(&o.Run, "run", "", "run id ([A-Za-z0-9_-]); the same id again resumes without duplicates (default: new)")
	t.fs.BoolVar(&o.IncludeReplays, "include-replays", false, "also replay copies made by earlier replays")
	t.fs.BoolVar(&o.DryRun, "dry-run", false, "list what would be sent, send nothing")
	if _, err := t.parse(args, 0, 0); err != nil {
		return err
	}
	var err error
	if o.Range, err = ops.ParseRange(rf, time.Now(), nil); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	nc, js, err := t.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, stop := interruptible()
	defer stop()
	var events []ops.Replayed
	if o.DryRun {
		o.Each = func(r ops.Replayed) {
			if t.json {
				events = append(events, r)
				return
			}
			line := fmt.Sprintf("seq %d  %s  %s  %s  %d B  → %s", r.Seq, r.Time.Local().Format("2006-01-02 15:04:05"), r.Subject, r.ID, r.Size, r.To)
			if r.Skipped != "" {
				line = fmt.Sprintf("seq %d  %s  %s  skipped: %s", r.Seq, r.Subject, r.ID, r.Skipped)
			}
			fmt.Fprintln(stdout, line)
		}
	} else if !t.json || isTerminal(stderr) {
		p := t.progress("replay")
		defer p.Finish()
		o.Progress = p.Update
	}
	res, err := ops.Replay(ctx, js, o)
	if err != nil && !errors.Is(err, ops.ErrInterrupted) {
		return err
	}
	if t.json {
		out := struct {
			ops.ReplayResult
			Events []ops.Replayed `json:"events,omitempty"`
		}{res, events}
		if jerr := t.printJSON(out); jerr != nil {
			return jerr
		}
	} else {
		printReplay(stdout, o, res)
	}
	if err != nil {
		return fmt.Errorf("%w: stopped after seq %d; resume with --from-seq %d --run %s and the same other flags", err, res.Done, res.Done+1, res.Run)
	}
	return nil
}

func printReplay(w io.Writer, o ops.ReplayOptions, res ops.ReplayResult) {
	to := "their own subjects"
	switch {
	case o.ToAgent != "":
		to = "agent " + o.ToAgent + " alone"
	case o.ToSubject != "":
		to = o.ToSubject
	}
	if res.Total == 0 {
		fmt.Fprintf(w, "nothing to replay: no event of %s matches %s in that range\n", res.Stream, o.Subject)
		return
	}
	if res.DryRun {
		fmt.Fprintf(w, "dry run: would replay %d events of %s, seq %d to %d, to %s (%d copies of replays skipped)\n",
			res.Total-res.Skipped, res.Stream, res.FirstSeq, res.LastSeq, to, res.Skipped)
		return
	}
	fmt.Fprintf(w, "replayed %s seq %d to %d to %s, run %s: %d copies stored", res.Stream, res.FirstSeq, res.LastSeq, to, res.Run, res.Sent-res.Duplicates)
	if res.Duplicates > 0 {
		fmt.Fprintf(w, ", %d already stored by this run before", res.Duplicates)
	}
	if res.Skipped > 0 {
		fmt.Fprintf(w, ", %d copies of earlier replays skipped", res.Skipped)
	}
	fmt.Fprintln(w)
}

const dlqHelp = `
usage: hookbus dlq list    [AGENT] [filters] [--json]
       hookbus dlq show    SEQ [--json]
       hookbus dlq redrive [AGENT] (SEQ… | filters | --all) [--via auto|agent|subject] [--force] [--dry-run]
       hookbus dlq purge   [AGENT] (SEQ… | filters | --all) [--yes] [--dry-run]

Dead letters are the events an agent gave up on, on dlq.<agent>, named by their sequence
in the DLQ stream (SEQ). Filters: --subject FILTER (the original subject), --reason TEXT,
--since T, --until T (when dead-lettered). An agent whose name is all digits goes with
--agent.

redrive hands each back to its agent: a copy of the original (same id, marked as a replay)
to the agent alone when it reads agents.<agent>.replay.> (every agent on the agent SDK
does), else to the original subject
(then every agent reading it gets it, which redrive lists); then the dead letter is
deleted. purge deletes them for good after asking; --yes skips the question, and without a
terminal to ask on, purge refuses unless --yes.
`

func dlqCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, strings.TrimLeft(dlqHelp, "\n"))
		return errUsage
	}
	switch args[0] {
	case "list", "show", "redrive", "purge":
		return dlqSub(args[0], args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, strings.TrimLeft(dlqHelp, "\n"))
		return nil
	}
	fmt.Fprint(stderr, strings.TrimLeft(dlqHelp, "\n"))
	return usagef("dlq: unknown subcommand %q", args[0])
}

func dlqSub(sub string, args []string, stdout, stderr io.Writer) error {
	t := newTool("dlq "+sub, dlqHelp, false, stdout, stderr)
	var f ops.DLQFilter
	var since, until string
	var all, force, dry, yes bool
	var via string
	if sub != "show" {
		t.fs.StringVar(&f.Agent, "agent", "", "the agent (instead of the AGENT argument)")
		t.fs.StringVar(&f.Subject, "subject", "", "only dead letters of events on subjects matching this filter")
		t.fs.StringVar(&f.Reason, "reason", "", "only dead letters whose reason contains this text")
		t.fs.StringVar(&since, "since", "", "only dead letters from this duration ago or time on")
		t.fs.StringVar(&until, "until", "", "only dead letters up to this duration ago or time")
	}
	if sub == "redrive" || sub == "purge" {
		t.fs.BoolVar(&all, "all", false, "every dead letter (of AGENT, or of every agent)")
		t.fs.BoolVar(&dry, "dry-run", false, "list what would be done, change nothing")
	}
	if sub == "redrive" {
		t.fs.StringVar(&via, "via", ops.ViaAuto, "auto, agent (the agent's replay subject) or subject (the original subject)")
		t.fs.BoolVar(&force, "force", false, "also redrive dead letters younger than the DLQ duplicate window")
	}
	if sub == "purge" {
		t.fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	}
	min, max := 0, -1
	if sub == "show" {
		min, max = 1, 1
	}
	pos, err := t.parse(args, min, max)
	if err != nil {
		return err
	}
	for i, p := range pos {
		if seq, err := strconv.ParseUint(p, 10, 64); err == nil {
			f.Seqs = append(f.Seqs, seq)
			continue
		}
		if i == 0 && f.Agent == "" {
			f.Agent = p
			continue
		}
		return usagef("dlq %s: %q is not a dead letter sequence", sub, p)
	}
	if sub == "list" && len(f.Seqs) > 0 {
		return usagef("dlq list: sequences are for dlq show")
	}
	now := time.Now()
	if since != "" {
		if f.Since, err = ops.ParseTime(since, now, nil); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
	}
	if until != "" {
		if f.Until, err = ops.ParseTime(until, now, nil); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
	}
	nc, js, err := t.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, stop := interruptible()
	defer stop()
	switch sub {
	case "list":
		list, err := ops.DeadLetters(ctx, js, f)
		if err != nil {
			return err
		}
		if t.json {
			for i := range list {
				list[i].Header = nil
			}
			return t.printJSON(list)
		}
		printDeadLetters(stdout, list)
		return nil
	case "show":
		d, err := ops.ShowDeadLetter(ctx, js, f.Seqs[0])
		if err != nil {
			return err
		}
		return showDeadLetter(t, d)
	case "redrive":
		return redrive(ctx, t, js, ops.RedriveOptions{Filter: f, All: all, Via: via, Force: force, DryRun: dry})
	}
	return purge(ctx, t, js, ops.PurgeOptions{Filter: f, All: all, DryRun: dry}, yes)
}

func printDeadLetters(w io.Writer, list []ops.DeadLetter) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAGENT\tDEAD-LETTERED\tATTEMPTS\tSUBJECT\tID\tREASON")
	for _, d := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", d.Seq, d.Agent, d.Time.Local().Format("2006-01-02 15:04:05"), d.Attempts,
			d.Subject, d.ID, ops.Preview([]byte(d.Reason), 80))
	}
	tw.Flush()
}

// body renders a body for JSON: text when it is UTF-8, base64 otherwise.
func body(data []byte) (text *string, b64 string) {
	if utf8.Valid(data) {
		s := string(data)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(data)
}

func showDeadLetter(t *tool, d ops.DeadLetter) error {
	if t.json {
		text, b64 := body(d.Data)
		return t.printJSON(struct {
			ops.DeadLetter
			Body       *string `json:"body,omitempty"`
			BodyBase64 string  `json:"body_base64,omitempty"`
		}{d, text, b64})
	}
	w := t.stdout
	fmt.Fprintf(w, "dead letter %d of %s, %s after %d attempts\nreason: %s\noriginal: %s seq %d, %s\n\n",
		d.Seq, d.Agent, d.Time.Local().Format("2006-01-02 15:04:05"), d.Attempts, d.Reason, d.Stream, d.Sequence, d.Subject)
	keys := make([]string, 0, len(d.Header))
	for k := range d.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range d.Header[k] {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(w)
	w.Write(d.Data)
	if len(d.Data) > 0 && d.Data[len(d.Data)-1] != '\n' {
		fmt.Fprintln(w)
	}
	return nil
}

func redrive(ctx context.Context, t *tool, js jetstream.JetStream, o ops.RedriveOptions) error {
	w := t.stdout
	if !t.json {
		o.Each = func(r ops.Redriven) {
			verb := "redriven"
			if o.DryRun {
				verb = "would redrive"
			}
			fmt.Fprintf(w, "%s %d of %s: %s → %s", verb, r.Seq, r.Agent, r.Subject, r.To)
			if len(r.AlsoTo) > 0 {
				fmt.Fprintf(w, " (also handled by %s)", strings.Join(r.AlsoTo, ", "))
			}
			fmt.Fprintln(w)
		}
	}
	if !o.DryRun && (!t.json || isTerminal(t.stderr)) {
		p := t.progress("redrive")
		defer p.Finish()
		o.Progress = p.Update
	}
	res, err := ops.Redrive(ctx, js, o)
	if t.json && (err == nil || len(res.Redriven) > 0) {
		if jerr := t.printJSON(res); jerr != nil {
			return jerr
		}
	} else if !t.json && err == nil {
		if res.Total == 0 {
			fmt.Fprintln(w, "no dead letters selected")
		} else if !res.DryRun {
			fmt.Fprintf(w, "%d dead letters redriven\n", len(res.Redriven))
		}
	}
	if err != nil && len(res.Redriven) > 0 {
		return fmt.Errorf("%w (after %d of %d redriven)", err, len(res.Redriven), res.Total)
	}
	return err
}

func purge(ctx context.Context, t *tool, js jetstream.JetStream, o ops.PurgeOptions, yes bool) error {
	dry := o.DryRun
	o.DryRun = true
	listed, err := ops.Purge(ctx, js, o)
	if err != nil {
		return err
	}
	n := len(listed.Purged)
	if n == 0 || dry {
		if t.json {
			return t.printJSON(listed)
		}
		printDeadLetters(t.stdout, listed.Purged)
		if n > 0 {
			fmt.Fprintf(t.stdout, "dry run: would purge %d dead letters\n", n)
		}
		return nil
	}
	if !yes {
		if !stdinTerminal() {
			return usagef("dlq purge: %d dead letters selected; refusing to purge without confirmation: there is no terminal to ask on, pass --yes", n)
		}
		printDeadLetters(t.stderr, listed.Purged)
		fmt.Fprintf(t.stderr, "Purge these %d dead letters for good? Type yes: ", n)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errors.New("not purged")
		}
	}
	o.DryRun = false
	o.Filter.UpTo = listed.Purged[n-1].Seq // exactly what was listed
	res, err := ops.Purge(ctx, js, o)
	if err != nil {
		return err
	}
	if t.json {
		return t.printJSON(res)
	}
	fmt.Fprintf(t.stdout, "%d dead letters purged\n", len(res.Purged))
	return nil
}

const tailHelp = `
usage: hookbus tail [FILTER] [--since T] [--count N] [--headers] [--body] [--json]

Follows events as they are stored: time, stream and sequence, subject, id, type, size and
a one-line preview of the body. FILTER is a subject filter (default: everything); one that
starts with a wildcard reads every stream (*.github.>). Nothing durable is created and no
agent is affected. Ctrl-C stops it. --json prints one JSON object per line.
`

func tailCmd(args []string, stdout, stderr io.Writer) error {
	t := newTool("tail", tailHelp, false, stdout, stderr)
	since := t.fs.String("since", "", "start with the events stored since this duration ago or time (default: new ones only)")
	count := t.fs.Int("count", 0, "stop after this many events (0: follow until stopped)")
	headers := t.fs.Bool("headers", false, "print every header")
	withBody := t.fs.Bool("body", false, "print the whole body (JSON: as body or body_base64)")
	pos, err := t.parse(args, 0, 1)
	if err != nil {
		return err
	}
	var o ops.TailOptions
	if len(pos) == 1 {
		o.Filter = pos[0]
	}
	if o.Filter != "" {
		if err := ops.ValidFilter(o.Filter); err != nil {
			return err
		}
	}
	if *since != "" {
		if o.Since, err = ops.ParseTime(*since, time.Now(), nil); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
	}
	if *count < 0 {
		return usagef("tail: --count %d: want 0 or more", *count)
	}
	nc, js, err := t.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, stop := interruptible()
	defer stop()
	seen := 0
	enc := json.NewEncoder(stdout)
	errEnough := errors.New("enough")
	err = ops.Tail(ctx, js, o, func(m ops.Message) error {
		if t.json {
			v := struct {
				ops.Message
				Preview    string  `json:"preview"`
				Body       *string `json:"body,omitempty"`
				BodyBase64 string  `json:"body_base64,omitempty"`
			}{Message: m, Preview: ops.Preview(m.Data, 120)}
			if !*headers {
				v.Header = nil
			}
			if *withBody {
				v.Body, v.BodyBase64 = body(m.Data)
			}
			if err := enc.Encode(v); err != nil {
				return err
			}
		} else {
			printEvent(stdout, m, *headers, *withBody)
		}
		if seen++; *count > 0 && seen >= *count {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

func printEvent(w io.Writer, m ops.Message, headers, withBody bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s#%d %s", m.Time.Local().Format("15:04:05.000"), m.Stream, m.Seq, m.Subject)
	if m.ID != "" {
		fmt.Fprintf(&b, " id=%s", m.ID)
	}
	if m.Correlation != "" && m.Correlation != m.ID {
		fmt.Fprintf(&b, " corr=%s", m.Correlation)
	}
	if m.Replay {
		b.WriteString(" [replay]")
	}
	fmt.Fprintf(&b, " %dB", m.Size)
	if !withBody {
		fmt.Fprintf(&b, " %s", ops.Preview(m.Data, 100))
	}
	fmt.Fprintln(w, b.String())
	if headers {
		keys := make([]string, 0, len(m.Header))
		for k := range m.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "    %s: %s\n", k, strings.Join(m.Header[k], ", "))
		}
	}
	if withBody {
		w.Write(m.Data)
		fmt.Fprintln(w)
	}
}

const sendHelp = `
usage: hookbus send SOURCE --event TYPE [--data JSON | --data @FILE] [--url URL] [--id ID]

Signs a sample webhook as the source's sender would (its verify scheme and its first
configured secret) and posts it to the running bridge, then prints the answer. For a github
source, TYPE issues.opened sends X-GitHub-Event: issues and puts "action":"opened" in the
payload when it has none; an hmac source gets TYPE in its event_header and a fresh delivery
id in its id_header. Without --data a small sample object is sent. Exit status 1 when the
bridge does not answer 2xx.
`

func sendCmd(args []string, stdout, stderr io.Writer) error {
	t := newTool("send", sendHelp, true, stdout, stderr)
	event := t.fs.String("event", "", "event type, e.g. issues.opened")
	data := t.fs.String("data", "", "payload: JSON text, or @FILE to read it from a file (@- for stdin)")
	url := t.fs.String("url", "", "the bridge's base URL or a full webhook URL (default: from http.listen)")
	id := t.fs.String("id", "", "delivery id to send (default: a fresh one; repeat one to see the duplicate answer)")
	pos, err := t.parse(args, 1, 1)
	if err != nil {
		return err
	}
	o := ops.SendOptions{Source: pos[0], Event: *event, URL: *url, DeliveryID: *id}
	switch {
	case strings.HasPrefix(*data, "@-"):
		if o.Data, err = io.ReadAll(stdin); err != nil {
			return err
		}
	case strings.HasPrefix(*data, "@"):
		if o.Data, err = os.ReadFile((*data)[1:]); err != nil {
			return usagef("send: --data: %v", err)
		}
	case *data != "":
		o.Data = []byte(*data)
	}
	if o.Config, err = config.Load(t.config, nil); err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	res, err := ops.Send(ctx, o)
	if err != nil {
		return err
	}
	if t.json {
		if err := t.printJSON(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stderr, "POST %s (%s, event %q, delivery %q, %d B)\n", res.URL, res.Scheme, res.Event, res.DeliveryID, res.Size)
		for _, n := range res.Notes {
			fmt.Fprintf(stderr, "note: %s\n", n)
		}
		fmt.Fprintf(stdout, "%d %s\n", res.Status, res.Answer)
	}
	if res.Status < 200 || res.Status > 299 {
		return fmt.Errorf("the bridge answered %d", res.Status)
	}
	return nil
}
