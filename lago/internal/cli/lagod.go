package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/policy"
	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
	"github.com/spf13/cobra"
)

// NewLagod builds the lagod command: serve the API of a data directory.
func NewLagod(stdout, stderr io.Writer) *cobra.Command {
	var (
		data, addr        string
		port              int
		compress, remote  bool
		eventsPerMin      int
		blobBytes, maxObj int64
	)
	c := &cobra.Command{
		Use:           "lagod",
		Short:         "Serve the lago journal, blobs, files and knowledge over HTTP",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return &ExitError{Code: 2, Err: errors.New("--data DIR is required")}
			}
			if port < 0 || port > 65535 {
				return &ExitError{Code: 2, Err: fmt.Errorf("--port %d out of range", port)}
			}
			if eventsPerMin < 0 || blobBytes < 0 || maxObj < 0 {
				return &ExitError{Code: 2, Err: errors.New("quotas must not be negative")}
			}
			ip := net.ParseIP(addr)
			if addr != "localhost" && (ip == nil || !ip.IsLoopback()) && !remote {
				return &ExitError{Code: 2, Err: fmt.Errorf("--addr %s is not loopback: this build has no token verifier, pass --insecure-remote to serve without auth anyway", addr)}
			}
			log := slog.New(slog.NewTextHandler(stderr, nil))
			st, err := store.Open(data, store.Options{Blobs: blob.Options{Compress: compress, MaxSize: maxObj}})
			if err != nil {
				return err
			}
			defer st.Close()
			srv := server.New(server.Config{Store: st, Logger: log,
				Quotas: policy.Quotas{EventsPerMinute: eventsPerMin, BlobBytes: blobBytes}})
			ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
			hs.RegisterOnShutdown(srv.StopStreams)
			fmt.Fprintf(stdout, "lagod listening on http://%s\n", ln.Addr())
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := hs.Shutdown(ctx); err != nil {
				hs.Close()
			}
			log.Info("lagod stopped")
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&data, "data", "", "data directory")
	f.IntVar(&port, "port", 8787, "TCP port (0 picks a free one)")
	f.StringVar(&addr, "addr", "127.0.0.1", "listen address")
	f.BoolVar(&remote, "insecure-remote", false, "allow a non-loopback address without auth")
	f.BoolVar(&compress, "compress-blobs", false, "store new blobs zstd-compressed")
	f.IntVar(&eventsPerMin, "quota-events-per-minute", 0, "per-tenant event rate limit (0: none)")
	f.Int64Var(&blobBytes, "quota-blob-bytes", 0, "per-tenant stored blob bytes (0: none)")
	f.Int64Var(&maxObj, "max-blob-bytes", 1<<30, "largest single blob")
	return c
}

// MainLagod runs lagod with args and returns the exit code.
func MainLagod(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := NewLagod(stdout, stderr)
	c.SetArgs(args)
	c.SetOut(stdout)
	c.SetErr(stderr)
	err := c.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "lagod:", err)
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if isUsage(err) {
		return 2
	}
	return 1
}
