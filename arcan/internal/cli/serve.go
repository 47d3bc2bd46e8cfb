package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeos/life/anima/home"
	"github.com/lifeos/life/anima/token"
	"github.com/lifeos/life/arcan/internal/stack"
	"github.com/lifeos/life/arcan/server"
)

// ServeCmd is `arcan serve`, also the whole of arcand.
func ServeCmd(io IO) *cobra.Command { return serveCmd(io) }

func serveCmd(io IO) *cobra.Command {
	var f runFlags
	var host, audience string
	var port int
	var auth, noResume, insecureRemote bool
	var dids []string
	var drain time.Duration
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the arcand HTTP daemon (default 127.0.0.1:3000)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return fmt.Errorf("--port %d is out of range", port)
			}
			if drain < 0 {
				return fmt.Errorf("--drain must not be negative")
			}
			if !auth && (c.Flags().Changed("auth-audience") || len(dids) > 0) {
				return fmt.Errorf("--auth-audience and --auth-did need --auth")
			}
			// Without auth anyone who reaches the port runs the agent's
			// tools, so a wider address must be asked for, as lagod does.
			if !auth && !insecureRemote && !loopbackHost(host) {
				return fmt.Errorf("--host %s is not loopback: pass --auth to require agent JWTs, or --insecure-remote to serve without auth anyway", host)
			}
			opts, err := f.options()
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(io.Err, &slog.HandlerOptions{Level: slog.LevelInfo}))
			opts.Logger = log
			st, err := stack.Open(opts)
			if err != nil {
				return err
			}
			defer st.Close()
			cfg := server.Config{Runtime: st.Runtime, Journal: st.Journal, Version: Version, Logger: log, Branches: branchLister(st)}
			if auth {
				v := token.NewVerifier()
				if len(dids) == 0 {
					id, err := home.Load(identityDir(st.Home))
					if err != nil {
						return fmt.Errorf("--auth needs --auth-did or an identity (arcan identity new): %w", err)
					}
					dids = append(dids, id.DID)
					if err := v.Apply(id.Events...); err != nil {
						return fmt.Errorf("identity events: %w", err)
					}
				}
				cfg.Verifier, cfg.Audience, cfg.AllowDIDs = v, audience, dids
			} else if !loopbackHost(host) {
				log.Warn("serving without --auth on a non-loopback address", "host", host)
			}
			srv, err := server.New(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			ctx, stop := signal.NotifyContext(background(c), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if !noResume {
				if n, err := srv.ResumeInterrupted(ctx); err != nil {
					log.Warn("scan for interrupted runs failed", "err", err)
				} else if n > 0 {
					log.Info("resumed interrupted runs", "count", n)
				}
			}
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			// Recorded so `arcan sessions` and `arcan replay` can ask this
			// daemon while it holds the journal's lock.
			pid := os.Getpid()
			if err := stack.WriteDaemon(st.Home, stack.Daemon{URL: stack.DaemonURL(ln.Addr()), PID: pid}); err != nil {
				log.Warn("cannot record the daemon's address; sessions and replay need --url", "err", err)
			} else {
				defer stack.RemoveDaemon(st.Home, pid)
			}
			fmt.Fprintf(io.Err, "arcand listening on http://%s (provider %s, data %s)\n", ln.Addr(), st.Provider.Name(), st.Home)
			select {
			case err := <-errc:
				srv.Close()
				return err
			case <-ctx.Done():
			}
			log.Info("shutting down: draining runs", "timeout", drain)
			sctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			srv.Shutdown()
			err = hs.Shutdown(sctx)
			if derr := srv.Drain(sctx); err == nil {
				err = derr
			}
			if werr := st.Runtime.Wait(sctx); err == nil {
				err = werr
			}
			if errors.Is(err, context.DeadlineExceeded) {
				log.Warn("drain timed out; unfinished runs resume at next start")
				err = nil
			}
			return err
		},
	}
	f.add(c)
	c.Flags().StringVar(&host, "host", "127.0.0.1", "address to listen on")
	c.Flags().IntVar(&port, "port", 3000, "port to listen on (0 picks a free one)")
	c.Flags().BoolVar(&auth, "auth", false, "require an agent JWT (anima) on every request but /healthz")
	c.Flags().StringVar(&audience, "auth-audience", "arcand", "audience the JWTs must name")
	c.Flags().StringSliceVar(&dids, "auth-did", nil, "DID allowed to call (repeatable; default the identity under $ARCAN_HOME/identity)")
	c.Flags().BoolVar(&insecureRemote, "insecure-remote", false, "allow a non-loopback --host without --auth")
	c.Flags().BoolVar(&noResume, "no-resume", false, "do not resume runs a previous process left unfinished")
	c.Flags().DurationVar(&drain, "drain", 30*time.Second, "how long shutdown waits for runs to finish")
	return c
}

func branchLister(st *stack.Stack) func(ctx context.Context, session string) ([]server.BranchInfo, error) {
	return func(ctx context.Context, session string) ([]server.BranchInfo, error) {
		infos, err := st.Journal.Streams(ctx, session)
		if err != nil {
			return nil, err
		}
		out := make([]server.BranchInfo, 0, len(infos))
		for _, i := range infos {
			out = append(out, server.BranchInfo{Branch: i.Stream.Branch, Parent: i.Parent, ForkSeq: i.Fork, Head: i.Head})
		}
		return out, nil
	}
}

func identityDir(h string) string { return filepath.Join(h, "identity") }

// loopbackHost says host is a loopback IP or "localhost".
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
