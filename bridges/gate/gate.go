// Package gate is the aios.Gate the runtime consults before each turn:
// autonomic embedded in the process by default, or a remote autonomicd by
// URL with a short timeout. Autonomic is advisory: when it cannot answer,
// the gate fails open, returning aios.OpenGating(), and journals an
// autonomic.gate_unavailable event in the stream, once per outage.
package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/bridges/autonomiclago"
)

// DefaultTimeout bounds one decision: a turn must not wait on advice.
const DefaultTimeout = 300 * time.Millisecond

// ErrUnavailable is matched by the error [Gate.Check] returns when the
// inner gate could not answer.
var ErrUnavailable = errors.New("gate: autonomic unavailable")

// Options tune a Gate.
type Options struct {
	// Timeout bounds each decision (DefaultTimeout when 0).
	Timeout time.Duration
	// Journal receives the gate_unavailable events; nil journals nothing.
	Journal aios.Journal
	// Clock and IDs stamp those events (system clock and ULIDs by default).
	Clock  aios.Clock
	IDs    aios.IDGenerator
	Logger *slog.Logger
}

// Gate decorates an inner gate with a timeout and the fail-open policy.
type Gate struct {
	inner aios.Gate
	opts  Options
	log   *slog.Logger

	mu   sync.Mutex
	down map[aios.StreamID]bool // streams whose outage is already journaled
}

var _ aios.Gate = (*Gate)(nil)

// New wraps inner.
func New(inner aios.Gate, opts Options) *Gate {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Clock == nil {
		opts.Clock = aios.SystemClock{}
	}
	if opts.IDs == nil {
		opts.IDs = aios.NewULIDGenerator(opts.Clock, nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Gate{inner: inner, opts: opts, log: opts.Logger, down: map[aios.StreamID]bool{}}
}

// Embedded returns the default gate: autonomic in-process, fed from j, its
// mode and gate changes journaled into j.
func Embedded(j aios.Journal, cfg controller.Config, opts Options) (*Gate, error) {
	c, err := controller.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	p := autonomiclago.New(j, controller.NewHub(c), autonomiclago.Options{Logger: opts.Logger})
	if opts.Journal == nil {
		opts.Journal = j
	}
	return New(p, opts), nil
}

// Remote returns a gate asking the autonomicd at baseURL.
func Remote(baseURL string, opts Options) (*Gate, error) {
	c, err := NewClient(baseURL, nil)
	if err != nil {
		return nil, err
	}
	return New(c, opts), nil
}

// Check asks the inner gate under the timeout and returns its answer or an
// error matching [ErrUnavailable]. It does not fail open; Decide does.
func (g *Gate) Check(ctx context.Context, stream aios.StreamID) (aios.Gating, error) {
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	type answer struct {
		g   aios.Gating
		err error
	}
	// The inner gate may ignore ctx (an embedded one reading a slow disk);
	// the turn still only waits for the timeout.
	ch := make(chan answer, 1)
	go func() {
		gt, err := g.inner.Decide(ctx, stream)
		ch <- answer{gt, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			return aios.Gating{}, fmt.Errorf("%w: %w", ErrUnavailable, a.err)
		}
		if !a.g.EconomicMode.Valid() {
			return aios.Gating{}, fmt.Errorf("%w: answer without a valid economic mode (%q)", ErrUnavailable, a.g.EconomicMode)
		}
		return a.g, nil
	case <-ctx.Done():
		return aios.Gating{}, fmt.Errorf("%w: no answer within %v: %w", ErrUnavailable, g.opts.Timeout, ctx.Err())
	}
}

// Decide returns the inner gate's advice, or aios.OpenGating() when it
// cannot be had, journaling the outage. It never returns an error unless
// ctx itself is done.
func (g *Gate) Decide(ctx context.Context, stream aios.StreamID) (aios.Gating, error) {
	gt, err := g.Check(ctx, stream)
	if err == nil {
		g.mu.Lock()
		wasDown := g.down[stream]
		delete(g.down, stream)
		g.mu.Unlock()
		if wasDown {
			g.log.Info("autonomic available again", "session", stream.Session, "branch", stream.Branch)
		}
		return gt, nil
	}
	if ctx.Err() != nil {
		return aios.Gating{}, ctx.Err()
	}
	g.mu.Lock()
	first := !g.down[stream]
	g.down[stream] = true
	g.mu.Unlock()
	// Warn once per outage, as it is journaled; a turn asks at every step.
	lvl := slog.LevelDebug
	if first {
		lvl = slog.LevelWarn
	}
	g.log.Log(ctx, lvl, "autonomic unavailable, failing open", "session", stream.Session, "branch", stream.Branch, "err", err)
	if first && g.opts.Journal != nil {
		e := aios.NewEnvelope(g.opts.IDs, g.opts.Clock, stream.Session, stream.Branch,
			&aios.GateUnavailable{Error: err.Error(), FailOpen: true})
		e.SetActor(aios.Actor{Type: aios.ActorSystem, Component: "autonomic-gate"})
		jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if _, jerr := g.opts.Journal.Append(jctx, e); jerr != nil {
			g.log.Error("journal gate_unavailable", "err", jerr)
			g.mu.Lock()
			delete(g.down, stream) // try again next time
			g.mu.Unlock()
		}
		cancel()
	}
	return aios.OpenGating(), nil
}
