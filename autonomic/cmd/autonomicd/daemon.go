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
	// list names every stream of the journal; changed, when not nil,
	// signals a commit (embedded), else the list is polled every poll.
	list    func(context.Context) ([]aios.StreamID, error)
	changed func() <-chan struct{}
	poll    time.Duration
	close   func() error
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
		d.list = rj.Streams
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
	d := &daemon{j: j, proj: p, log: log, h: api.NewHandler(p.Hub(), api.Options{Sync: p, Logger: log}),
		poll: o.poll, close: func() error { return nil }}
	if d.poll <= 0 {
		d.poll = time.Second
	}
	if lj, ok := j.(*journal.Journal); ok {
		d.list = func(ctx context.Context) ([]aios.StreamID, error) {
			infos, err := lj.Streams(ctx, "")
			ids := make([]aios.StreamID, len(infos))
			for i, in := range infos {
				ids[i] = in.Stream
			}
			return ids, err
		}
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

// followAll starts a follower for every stream in the journal, and for each
// new one as it appears: after commits (at most every 200 ms) for the
// embedded journal, every poll interval for a remote one.
func (d *daemon) followAll(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	following := map[aios.StreamID]bool{}
	for {
		var changed <-chan struct{}
		if d.changed != nil {
			changed = d.changed()
		}
		streams, err := d.list(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("autonomic: list streams", "err", err)
		}
		for _, id := range streams {
			if following[id] {
				continue
			}
			following[id] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.follow(ctx, id)
			}()
		}
		if changed != nil {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
		wait := d.poll
		if changed != nil {
			wait = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// follow keeps one stream live, retrying with backoff after errors.
func (d *daemon) follow(ctx context.Context, id aios.StreamID) {
	backoff := 100 * time.Millisecond
	for {
		err := d.proj.Follow(ctx, id)
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("autonomic: follow stream", "session", id.Session, "branch", id.Branch, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
