package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/api"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/bridges/autonomiclago"
	"github.com/lifeos/life/bridges/lagoremote"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/store"
	"github.com/lifeos/life/vigil"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// daemon is the wiring: a lago journal (embedded, or lagod's over HTTP),
// the projector following it and the HTTP handler.
type daemon struct {
	j    aios.Journal
	proj *autonomiclago.Projector
	log  *slog.Logger
	h    http.Handler
	// list names every stream of the journal, with its head when heads
	// is set (else idle streams are probed with Head); changed, when not
	// nil, signals a commit (embedded), else the list is polled every poll.
	list    func(context.Context) ([]streamHead, error)
	heads   bool
	changed func() <-chan struct{}
	poll    time.Duration
	// idle stops a stream's follower after that long without events;
	// maxFollow bounds the followers running at once.
	idle      time.Duration
	maxFollow int
	counts    followCounts
	// unreachable is why the journal (lagod) did not answer the last
	// listing; nil while it answers. /healthz reports it.
	unreachable atomic.Pointer[string]
	close       func() error
}

func openDaemon(o options, cfg controller.Config, log *slog.Logger) (*daemon, error) {
	if o.lagod != "" {
		rj, err := lagoremote.New(o.lagod, lagoremote.Options{Token: o.lagodToken})
		if err != nil {
			return nil, err
		}
		d, err := newDaemon(rj, cfg, o, log)
		if err != nil {
			return nil, err
		}
		d.list = func(ctx context.Context) ([]streamHead, error) {
			ids, err := rj.Streams(ctx)
			out := make([]streamHead, len(ids))
			for i, id := range ids {
				out[i] = streamHead{id: id}
			}
			return out, err
		}
		return d, nil
	}
	st, err := store.Open(o.data, store.Options{Journal: journal.Options{Logger: log}})
	if err != nil {
		return nil, fmt.Errorf("open lago data dir: %w", err)
	}
	d, err := newDaemon(st.Journal, cfg, o, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	d.close = st.Close
	return d, nil
}

// newDaemon wires j. For lago's embedded journal it lists streams and
// waits for commits itself; other journals need d.list set.
func newDaemon(j aios.Journal, cfg controller.Config, o options, log *slog.Logger) (*daemon, error) {
	c, err := controller.New(cfg)
	if err != nil {
		return nil, err
	}
	p := autonomiclago.New(traced(o.tel, j), controller.NewHub(c), autonomiclago.Options{
		ReadOnly: o.readOnly, SnapshotEvery: o.snapshotEvery, Logger: log,
	})
	d := &daemon{j: j, proj: p, log: log, poll: o.poll, idle: o.idle, maxFollow: o.maxFollow,
		close: func() error { return nil }}
	d.h = d.health(api.NewHandler(p.Hub(), api.Options{Sync: p, Logger: log, Followers: d.counts.stats}))
	if telOn(o.tel) {
		d.h = otelhttp.NewHandler(d.h, "autonomicd", otelhttp.WithTracerProvider(tracerProvider{t: o.tel.Tracer()}))
	}
	if d.poll <= 0 {
		d.poll = time.Second
	}
	if d.idle <= 0 {
		d.idle = defaultIdle
	}
	if d.maxFollow <= 0 {
		d.maxFollow = defaultMaxFollow
	}
	if lj, ok := j.(*journal.Journal); ok {
		d.list = func(ctx context.Context) ([]streamHead, error) {
			infos, err := lj.Streams(ctx, "")
			out := make([]streamHead, len(infos))
			for i, in := range infos {
				out[i] = streamHead{id: in.Stream, head: in.Head}
			}
			return out, err
		}
		d.heads = true
		d.changed = lj.Changed
	}
	return d, nil
}

// traced returns j with vigil's journal spans and metrics (lago append,
// mode transitions from the changes the projector journals) when tel is
// enabled, keeping j's snapshot store visible to the projector.
func traced(tel *vigil.Telemetry, j aios.Journal) aios.Journal {
	if !telOn(tel) {
		return j
	}
	w := tel.WrapJournal(j)
	if s, ok := j.(autonomiclago.SnapshotStore); ok {
		return tracedSnaps{w, s}
	}
	return w
}

func telOn(tel *vigil.Telemetry) bool { return tel != nil && tel.Enabled() }

// tracerProvider hands otelhttp vigil's tracer: vigil owns the SDK and
// exposes only its tracer, so HTTP spans share its scope and exporters.
type tracerProvider struct {
	embedded.TracerProvider
	t trace.Tracer
}

func (p tracerProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return p.t }

type tracedSnaps struct {
	aios.Journal
	autonomiclago.SnapshotStore
}

// health wraps the handler's /healthz: while the journal does not answer
// it says "degraded" with the reason, still 200 so that a liveness probe
// does not restart a daemon that cannot fix its peer by restarting.
func (d *daemon) health(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		why := d.unreachable.Load()
		if r.URL.Path != "/healthz" || r.Method != http.MethodGet || why == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		var body map[string]any
		if rec.status != http.StatusOK || json.Unmarshal(rec.body.Bytes(), &body) != nil {
			rec.flush(w)
			return
		}
		body["status"], body["reason"] = "degraded", *why
		b, err := json.Marshal(body)
		if err != nil {
			rec.flush(w)
			return
		}
		maps.Copy(w.Header(), rec.header)
		w.Header().Del("Content-Length")
		w.WriteHeader(http.StatusOK)
		w.Write(append(b, '\n'))
	})
}

// recorder holds a small answer (/healthz) to be rewritten.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.status = code }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }

func (r *recorder) flush(w http.ResponseWriter) {
	maps.Copy(w.Header(), r.header)
	w.WriteHeader(r.status)
	w.Write(r.body.Bytes())
}

// Close closes the journal.
func (d *daemon) Close() error { return d.close() }

// Serve answers HTTP on ln and follows every stream of the journal until
// ctx ends, then shuts down gracefully.
func (d *daemon) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: d.h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.followAll(ctx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	cancel()
	wg.Wait()
	if cerr := d.proj.Checkpoint(sctx); cerr != nil {
		d.log.Warn("autonomic: checkpoint on shutdown", "err", cerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
