package server

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/lifeos/life/arcan/runtime"
)

// onDisconnect reads ?on_disconnect=: "continue" (the default) or
// "cancel". It reports whether a client going away cancels its run.
func onDisconnect(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("on_disconnect"); v {
	case "", "continue":
		return false, nil
	case "cancel":
		return true, nil
	default:
		return false, badRequest("on_disconnect=%q (want continue or cancel)", v)
	}
}

// client guards a request's ResponseWriter for a run's callbacks, which
// go on after the handler returned once the client left.
type client struct {
	mu   sync.Mutex
	gone bool
}

// do runs write unless the client is gone.
func (c *client) do(write func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		write()
	}
}

func (c *client) leave() {
	c.mu.Lock()
	c.gone = true
	c.mu.Unlock()
}

// runDetached runs a request's run as a background run: on the server's
// context (which Drain and Close interrupt, leaving it for the next
// process to resume) with the request's values, not its cancellation. A
// client that goes away does not stop it, as the journal holds all of it
// for /events/stream (Last-Event-ID) and /state, unless cancel is set
// (?on_disconnect=cancel). ok is false when the client left first; c is
// then marked gone before runDetached returns, so that the run's
// callbacks (which write through c) stop writing to the response.
func (s *Server) runDetached(r *http.Request, c *client, cancel bool, run func(ctx context.Context) (runtime.Result, error)) (res runtime.Result, err error, ok bool) {
	ctx, stop := context.WithCancelCause(context.WithoutCancel(r.Context()))
	unlink := context.AfterFunc(s.bgCtx, func() { stop(context.Cause(s.bgCtx)) })
	type outcome struct {
		res runtime.Result
		err error
	}
	done := make(chan outcome, 1)
	if err := s.track(); err != nil {
		unlink()
		stop(nil)
		return runtime.Result{}, err, true
	}
	go func() {
		defer s.bg.Done()
		defer unlink()
		defer stop(nil)
		res, err := run(ctx)
		if !errors.Is(err, runtime.ErrDuplicateRun) { // that one is not a run
			s.metrics.run(res.Status)
		}
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err, true
	case <-r.Context().Done():
		c.leave()
		if cancel {
			stop(runtime.ErrCancelled)
		} else {
			s.log.Info("client left; its run goes on", "session", r.PathValue("id"))
		}
		return runtime.Result{}, r.Context().Err(), false
	}
}
