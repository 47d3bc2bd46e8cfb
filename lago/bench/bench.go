// Package bench measures the journal against its physical floor in one run
// on one disk: raw append+fdatasync, raw bbolt one record per transaction,
// lago appends with 1..N concurrent writers, replay, and SSE fan-out. The
// `lago bench` command prints its table.
package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/sse"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Config sizes a run. Zero fields take the defaults (a run under a minute).
type Config struct {
	Dir          string // where the files go (default: a temp dir)
	SyncOps      int    // ops for the raw fsync, raw bbolt and single-writer rows (default 300)
	Writers      []int  // concurrent writer counts (default 1, 8, 64, 256)
	PerWriter    int    // events per writer in the concurrent rows (default 100; at least SyncOps in all)
	Sessions     int    // sessions the concurrent writers spread over (default 16)
	ReplayEvents int    // stream length for the replay rows (default 100000)
	Subscribers  int    // SSE fan-out subscribers (default 100)
	FanoutEvents int    // events fanned out (default 500)
}

func (c *Config) defaults() {
	if c.SyncOps <= 0 {
		c.SyncOps = 300
	}
	if len(c.Writers) == 0 {
		c.Writers = []int{1, 8, 64, 256}
	}
	if c.PerWriter <= 0 {
		c.PerWriter = 100
	}
	if c.Sessions <= 0 {
		c.Sessions = 16
	}
	if c.ReplayEvents <= 0 {
		c.ReplayEvents = 100_000
	}
	if c.Subscribers <= 0 {
		c.Subscribers = 100
	}
	if c.FanoutEvents <= 0 {
		c.FanoutEvents = 500
	}
}

// Row is one measurement.
type Row struct {
	Name   string
	Ops    int
	Rate   float64       // ops (events) per second
	P50    time.Duration // per-op latency, 0 when not measured
	P99    time.Duration
	Note   string
	Allocs float64 // allocations per event, replay rows
	Bytes  float64 // bytes allocated per event, replay rows
}

// Result is a full run.
type Result struct {
	Rows   []Row
	Ratios []string // the targets, as measured ratios
}

func latencies(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]
}

// Run measures everything in cfg.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "lago-bench-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	res := &Result{}
	add := func(r Row, err error) error {
		if err != nil {
			return fmt.Errorf("bench %s: %w", r.Name, err)
		}
		res.Rows = append(res.Rows, r)
		return nil
	}
	// The durable rows run interleaved in rounds, so that load from other
	// processes on the disk falls on every row alike and the ratios hold.
	runners := []*runner{}
	defer func() {
		for _, r := range runners {
			r.close()
		}
	}()
	mk := func(r *runner, err error) error {
		if err != nil {
			return fmt.Errorf("bench %s: %w", r.row.Name, err)
		}
		runners = append(runners, r)
		return nil
	}
	if err := mk(rawFsyncRunner(filepath.Join(dir, "raw.log"), cfg.SyncOps)); err != nil {
		return nil, err
	}
	if err := mk(rawBoltRunner(filepath.Join(dir, "raw.db"), cfg.SyncOps)); err != nil {
		return nil, err
	}
	if err := mk(rawGroupRunner(filepath.Join(dir, "group.log"), 64, max(cfg.SyncOps, 64*cfg.PerWriter))); err != nil {
		return nil, err
	}
	if err := mk(writersRunner(filepath.Join(dir, "single.db"), 1, cfg.SyncOps, cfg.Sessions, "lago single writer append")); err != nil {
		return nil, err
	}
	for _, n := range cfg.Writers {
		if err := mk(writersRunner(filepath.Join(dir, fmt.Sprintf("w%d.db", n)), n, max(cfg.SyncOps, n*cfg.PerWriter), cfg.Sessions, "")); err != nil {
			return nil, err
		}
	}
	for round := range Rounds {
		for _, r := range runners {
			if err := r.step(ctx, round); err != nil {
				return nil, fmt.Errorf("bench %s: %w", r.row.Name, err)
			}
		}
	}
	var rawFsync, rawBolt, rawGroup, single, w64 Row
	for i, r := range runners {
		row := r.finish()
		res.Rows = append(res.Rows, row)
		switch {
		case i == 0:
			rawFsync = row
		case i == 1:
			rawBolt = row
		case i == 2:
			rawGroup = row
		case i == 3:
			single = row
		case row.Name == "lago 64 concurrent writers":
			w64 = row
		}
	}
	rows, err := Replay(ctx, filepath.Join(dir, "replay.db"), cfg.ReplayEvents)
	if err != nil {
		return nil, fmt.Errorf("bench replay: %w", err)
	}
	res.Rows = append(res.Rows, rows...)
	fo, err := Fanout(ctx, filepath.Join(dir, "fanout.db"), cfg.Subscribers, cfg.FanoutEvents)
	if err := add(fo, err); err != nil {
		return nil, err
	}
	res.Ratios = append(res.Ratios,
		fmt.Sprintf("raw bbolt / raw fsync rate: %.2fx", rawBolt.Rate/rawFsync.Rate),
		fmt.Sprintf("lago single writer / raw bbolt rate: %.2fx (target >= 0.77, i.e. within 1.3x)", single.Rate/rawBolt.Rate))
	if w64.Ops > 0 {
		res.Ratios = append(res.Ratios, fmt.Sprintf("lago 64 writers / single writer rate: %.1fx (target >= 30x)", w64.Rate/single.Rate))
	}
	res.Ratios = append(res.Ratios, fmt.Sprintf("raw group commit 64 writers / raw fsync rate: %.1fx (the same ratio with nothing but the file: no encoding, hashing or bbolt)", rawGroup.Rate/rawFsync.Rate))
	for _, r := range rows {
		if r.Name == "replay raw bytes" {
			res.Ratios = append(res.Ratios, fmt.Sprintf("raw replay: %.2fM events/s (target >= 1M/s)", r.Rate/1e6))
		}
	}
	return res, nil
}

// Rounds is how many interleaved rounds the durable rows run in.
const Rounds = 10

// runner is one durable row, run a slice at a time.
type runner struct {
	row   Row
	ops   int // total
	lat   []time.Duration
	el    time.Duration
	do    func(ctx context.Context, n int) ([]time.Duration, error)
	close func()
	note  func() string
}

func (r *runner) step(ctx context.Context, round int) error {
	n := r.ops / Rounds
	if round == Rounds-1 {
		n = r.ops - n*(Rounds-1)
	}
	start := time.Now()
	lat, err := r.do(ctx, n)
	r.el += time.Since(start)
	r.lat = append(r.lat, lat...)
	return err
}

func (r *runner) finish() Row {
	r.row.Ops = len(r.lat)
	r.row.Rate = float64(len(r.lat)) / r.el.Seconds()
	r.row.P50, r.row.P99 = latencies(r.lat)
	if r.note != nil {
		r.row.Note = r.note()
	}
	return r.row
}

// rawFsyncRunner appends 200-byte records to a file with fdatasync after
// each: the physical floor of a durable append.
func rawFsyncRunner(path string, ops int) (*runner, error) {
	r := &runner{row: Row{Name: "raw file append+fdatasync"}, ops: ops}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return r, err
	}
	rec := []byte(strings.Repeat("x", 199) + "\n")
	r.close = func() { f.Close() }
	r.do = func(ctx context.Context, n int) ([]time.Duration, error) {
		lat := make([]time.Duration, 0, n)
		for range n {
			if err := ctx.Err(); err != nil {
				return lat, err
			}
			t := time.Now()
			if _, err := f.Write(rec); err != nil {
				return lat, err
			}
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return lat, err
			}
			lat = append(lat, time.Since(t))
		}
		return lat, nil
	}
	return r, nil
}

// rawGroupRunner is group commit with nothing but a file: n writers hand
// 450-byte records to one goroutine that appends what is queued (after a
// brief yield like the journal committer's) and fdatasyncs once per batch.
func rawGroupRunner(path string, n, total int) (*runner, error) {
	r := &runner{row: Row{Name: fmt.Sprintf("raw file group commit, %d writers", n)}, ops: total / n * n}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return r, err
	}
	type req struct{ done chan error }
	reqs := make(chan req, n)
	quit := make(chan struct{})
	stopped := make(chan struct{})
	var batches, events atomic.Int64 // read by note while the committer runs
	r.close = func() { close(quit); <-stopped; f.Close() }
	r.note = func() string {
		return fmt.Sprintf("%.1f events/commit", float64(events.Load())/float64(max(batches.Load(), 1)))
	}
	rec := []byte(strings.Repeat("x", 449) + "\n")
	go func() {
		defer close(stopped)
		var buf []byte
		for {
			var batch []req
			select {
			case q := <-reqs:
				batch = append(batch, q)
			case <-quit:
				return
			}
			for idle := 0; idle < 3; {
				select {
				case q := <-reqs:
					batch = append(batch, q)
					idle = 0
				default:
					if len(batch) < 4 {
						idle = 3
						break
					}
					runtime.Gosched()
					idle++
				}
			}
			buf = buf[:0]
			for range batch {
				buf = append(buf, rec...)
			}
			_, err := f.Write(buf)
			if err == nil {
				err = unix.Fdatasync(int(f.Fd()))
			}
			for _, q := range batch {
				q.done <- err
			}
			batches.Add(1)
			events.Add(int64(len(batch)))
		}
	}()
	r.do = func(ctx context.Context, k int) ([]time.Duration, error) {
		per := max(k/n, 1)
		lats := make([][]time.Duration, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for w := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q := req{done: make(chan error, 1)}
				for range per {
					t := time.Now()
					reqs <- q
					if err := <-q.done; err != nil {
						errs <- err
						return
					}
					lats[w] = append(lats[w], time.Since(t))
				}
			}()
		}
		wg.Wait()
		close(errs)
		return slices.Concat(lats...), <-errs
	}
	return r, nil
}

// rawBoltRunner puts one 380-byte record per bbolt transaction (fsync
// each), with the journal's bbolt options.
func rawBoltRunner(path string, ops int) (*runner, error) {
	r := &runner{row: Row{Name: "raw bbolt, 1 record per tx"}, ops: ops}
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return r, err
	}
	r.close = func() { db.Close() }
	val := []byte(strings.Repeat("v", 380))
	i := 0
	r.do = func(ctx context.Context, n int) ([]time.Duration, error) {
		lat := make([]time.Duration, 0, n)
		for range n {
			if err := ctx.Err(); err != nil {
				return lat, err
			}
			i++
			t := time.Now()
			err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("events"))
				if err != nil {
					return err
				}
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], uint64(i))
				return b.Put(k[:], val)
			})
			if err != nil {
				return lat, err
			}
			lat = append(lat, time.Since(t))
		}
		return lat, nil
	}
	return r, nil
}

// writersRunner runs n goroutines appending one event per call, durably,
// writer w on session w mod sessions, and reports events/s and ack latency.
func writersRunner(path string, n, total, sessions int, name string) (*runner, error) {
	if name == "" {
		name = fmt.Sprintf("lago %d concurrent writers", n)
	}
	r := &runner{row: Row{Name: name}, ops: total / n * n}
	j, err := journal.Open(path, journal.Options{})
	if err != nil {
		return r, err
	}
	r.close = func() { j.Close() }
	r.note = func() string {
		st := j.Stats()
		c := time.Duration(max(st.Commits, 1))
		return fmt.Sprintf("%.1f events/commit, commit %v, wait %v", float64(st.Events)/float64(c), (st.CommitTime / c).Round(time.Microsecond), (st.GatherWait / c).Round(time.Microsecond))
	}
	r.do = func(ctx context.Context, k int) ([]time.Duration, error) {
		per := max(k/n, 1)
		lats := make([][]time.Duration, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := make([]time.Duration, 0, per)
				sess := fmt.Sprintf("bench-%d", w%sessions)
				// event ids are ULIDs, as every producer in the system makes them
				ids := aios.NewULIDGenerator(nil, nil)
				for range per {
					t := time.Now()
					if _, err := j.Append(ctx, Event(ids.NewID(), sess, "main")); err != nil {
						errs <- err
						return
					}
					l = append(l, time.Since(t))
				}
				lats[w] = l
			}()
		}
		wg.Wait()
		close(errs)
		return slices.Concat(lats...), <-errs
	}
	return r, nil
}

// Writers measures n concurrent durable writers appending total events.
func Writers(ctx context.Context, path string, n, total int) (Row, error) {
	r, err := writersRunner(path, n, total, 16, "")
	if err != nil {
		return r.row, err
	}
	defer r.close()
	start := time.Now()
	lat, err := r.do(ctx, total)
	r.el, r.lat = time.Since(start), lat
	return r.finish(), err
}

// Event makes the benchmark's event: a 100-character user message with an
// agent_id, on (session, branch).
func Event(id, session, branch string) aios.EventEnvelope {
	e := aios.EventEnvelope{
		EventID: id, SessionID: session, BranchID: branch, Timestamp: 1700000000000000,
		Payload:  &aios.UserMessage{Content: strings.Repeat("m", 100)},
		Metadata: map[string]string{aios.MetaAgentID: "agent-bench"}, SchemaVersion: 1,
	}
	return e
}

// Replay writes an n-event stream (batched) and reads it back twice: as raw
// stored bytes and fully decoded.
func Replay(ctx context.Context, path string, n int) ([]Row, error) {
	j, err := journal.Open(path, journal.Options{})
	if err != nil {
		return nil, err
	}
	defer j.Close()
	st := aios.StreamID{Session: "replay", Branch: "main"}
	batch := make([]aios.EventEnvelope, 0, 2000)
	for i := range n {
		batch = append(batch, Event(fmt.Sprintf("r-%d", i), st.Session, st.Branch))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := j.Append(ctx, batch...); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	// warm the page cache
	for _, err := range j.ReadRaw(ctx, aios.ReadQuery{Stream: st}) {
		if err != nil {
			return nil, err
		}
	}
	measure := func(name string, f func() (int, error)) (Row, error) {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		got, err := f()
		el := time.Since(start)
		runtime.ReadMemStats(&m1)
		if err != nil {
			return Row{}, err
		}
		if got != n {
			return Row{}, fmt.Errorf("%s read %d of %d events", name, got, n)
		}
		return Row{
			Name: name, Ops: n, Rate: float64(n) / el.Seconds(),
			Allocs: float64(m1.Mallocs-m0.Mallocs) / float64(n),
			Bytes:  float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n),
		}, nil
	}
	var bytesSeen int
	raw, err := measure("replay raw bytes", func() (int, error) {
		c := 0
		for ev, err := range j.ReadRaw(ctx, aios.ReadQuery{Stream: st}) {
			if err != nil {
				return c, err
			}
			bytesSeen += len(ev.Data)
			c++
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	raw.Note = fmt.Sprintf("%d-event stream, %.0f B/event", n, float64(bytesSeen)/float64(n))
	dec, err := measure("replay decoded (journal.Read)", func() (int, error) {
		c := 0
		for _, err := range j.Read(ctx, aios.ReadQuery{Stream: st}) {
			if err != nil {
				return c, err
			}
			c++
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	dec.Note = fmt.Sprintf("journal.Read: aios.DecodeEnvelope of every stored envelope, on %d processors", runtime.GOMAXPROCS(0))
	return []Row{raw, dec}, nil
}

// Fanout subscribes n SSE clients (canonical format, framed into a
// discarding writer) to one stream, appends events in batches of 10
// durably, and measures until every client has received every event.
func Fanout(ctx context.Context, path string, subscribers, events int) (Row, error) {
	row := Row{Name: fmt.Sprintf("SSE fan-out to %d subscribers", subscribers), Ops: subscribers * events}
	j, err := journal.Open(path, journal.Options{})
	if err != nil {
		return row, err
	}
	defer j.Close()
	st := aios.StreamID{Session: "fanout", Branch: "main"}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ready, done sync.WaitGroup
	errs := make(chan error, subscribers)
	lat := make([]time.Duration, subscribers)
	var start time.Time
	for i := range subscribers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			enc := &sse.Lago{}
			w := sse.NewWriter(io.Discard)
			for ev, err := range j.SubscribeRaw(ctx, st, 0) {
				if err != nil {
					errs <- err
					return
				}
				if err := w.Write(enc.EncodeRaw(ev.Seq, ev.Data)...); err != nil {
					errs <- err
					return
				}
				if ev.Seq == uint64(events) {
					lat[i] = time.Since(start)
					return
				}
			}
		}()
		ready.Done()
	}
	ready.Wait()
	start = time.Now()
	batch := make([]aios.EventEnvelope, 0, 10)
	for i := range events {
		batch = append(batch, Event(fmt.Sprintf("f-%d", i), st.Session, st.Branch))
		if len(batch) == cap(batch) || i == events-1 {
			if _, err := j.Append(ctx, batch...); err != nil {
				return row, err
			}
			batch = batch[:0]
		}
	}
	done.Wait()
	el := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return row, err
	}
	row.Rate = float64(row.Ops) / el.Seconds()
	row.P50, row.P99 = latencies(lat)
	row.Note = fmt.Sprintf("%d events in durable batches of 10; rate = deliveries/s, p50/p99 = time for a client to get all", events)
	return row, nil
}

// Print writes the table.
func (r *Result) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tops\tops/s\tp50\tp99\tallocs/op\tB/op\tnote")
	for _, row := range r.Rows {
		lat := func(d time.Duration) string {
			if d == 0 {
				return "-"
			}
			return d.Round(time.Microsecond).String()
		}
		al, by := "-", "-"
		if row.Allocs > 0 || row.Bytes > 0 {
			al, by = fmt.Sprintf("%.2f", row.Allocs), fmt.Sprintf("%.0f", row.Bytes)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\n", row.Name, row.Ops, row.Rate, lat(row.P50), lat(row.P99), al, by, row.Note)
	}
	tw.Flush()
	for _, s := range r.Ratios {
		fmt.Fprintln(w, s)
	}
}
