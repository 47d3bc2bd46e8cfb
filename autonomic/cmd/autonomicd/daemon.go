package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/api"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/bridges/autonomiclago"
	"github.com/lifeos/life/bridges/lagoremote"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/store"
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
	close     func() error
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
	p := autonomiclago.New(j, controller.NewHub(c), autonomiclago.Options{
		ReadOnly: o.readOnly, SnapshotEvery: o.snapshotEvery, Logger: log,
	})
	d := &daemon{j: j, proj: p, log: log, poll: o.poll, idle: o.idle, maxFollow: o.maxFollow,
		close: func() error { return nil }}
	d.h = api.NewHandler(p.Hub(), api.Options{Sync: p, Logger: log, Followers: d.counts.stats})
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
