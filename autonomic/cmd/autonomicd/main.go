// Command autonomicd serves autonomic's gating decisions over HTTP, keeping
// the projection of every stream of a lago journal live by subscription.
//
//	autonomicd --port 3002 --data DIR [--config FILE] [--host 127.0.0.1]
//	autonomicd --port 3002 --lagod http://127.0.0.1:8787
//
// DIR holds the lago journal (DIR/journal.db) it follows; with --lagod it
// follows a lagod over HTTP instead. Mode and gate changes are journaled
// back into each stream unless --read-only. A stream's follower stops after
// --idle without events and starts again when the stream moves; at most
// --max-follow run at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/vigil"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	host, data, config string
	lagod, lagodToken  string
	port               int
	readOnly, public   bool
	snapshotEvery      int
	maxFollow          int
	poll, idle         time.Duration
	logLevel           slog.Level
	// tel is the telemetry the OTEL_* environment asks for; nil or
	// disabled records nothing.
	tel *vigil.Telemetry
}

const (
	defaultIdle      = 10 * time.Minute
	defaultMaxFollow = 1024
)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("autonomicd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.host, "host", "127.0.0.1", "address to listen on")
	fs.IntVar(&o.port, "port", 3002, "TCP port to listen on (0 picks a free one)")
	fs.StringVar(&o.data, "data", "autonomic-data", "lago data directory holding journal.db (embedded journal)")
	fs.StringVar(&o.lagod, "lagod", "", "follow the lagod at this URL instead of an embedded journal (token from $AUTONOMICD_LAGOD_TOKEN)")
	fs.DurationVar(&o.poll, "poll", time.Second, "with --lagod, how often to look for new streams")
	fs.DurationVar(&o.idle, "idle", defaultIdle, "stop following a stream after this long without events (it is followed again when it moves)")
	fs.IntVar(&o.maxFollow, "max-follow", defaultMaxFollow, "most streams followed at once; the rest wait, most recently active first")
	fs.StringVar(&o.config, "config", "", "JSON configuration file (prices, limits, rules); defaults when empty")
	fs.BoolVar(&o.readOnly, "read-only", false, "do not journal mode and gate changes")
	fs.BoolVar(&o.public, "public", false, "allow a non-loopback --host (the API has no authentication)")
	fs.IntVar(&o.snapshotEvery, "snapshot-every", 1000, "save a projection snapshot every N events per stream (<0: never)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.port < 0 || o.port > 65535 {
		return o, fmt.Errorf("--port %d: want 0..65535", o.port)
	}
	if o.data == "" && o.lagod == "" {
		return o, errors.New("--data must name a directory")
	}
	if o.lagod != "" {
		u, err := url.Parse(o.lagod)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("--lagod %q: want http(s)://host:port", o.lagod)
		}
	}
	if o.poll <= 0 {
		return o, fmt.Errorf("--poll %v: must be positive", o.poll)
	}
	if o.idle <= 0 {
		return o, fmt.Errorf("--idle %v: must be positive", o.idle)
	}
	if o.snapshotEvery == 0 {
		// The projector reads 0 as its default (1000), not "never".
		return o, errors.New("--snapshot-every 0: want N > 0, or a negative number for never")
	}
	if o.maxFollow < 1 {
		return o, fmt.Errorf("--max-follow %d: must be at least 1", o.maxFollow)
	}
	o.lagodToken = os.Getenv("AUTONOMICD_LAGOD_TOKEN")
	if ip := net.ParseIP(o.host); ip == nil && o.host != "localhost" {
		return o, fmt.Errorf("--host %q: want an IP address or localhost", o.host)
	} else if ip != nil && !ip.IsLoopback() && !o.public {
		return o, fmt.Errorf("--host %s is not loopback and the API has no authentication (it shows balances); pass --public to do it anyway", o.host)
	}
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return o, fmt.Errorf("--log-level: %w", err)
	}
	return o, nil
}

func loadConfig(path string) (controller.Config, error) {
	if path == "" {
		return controller.DefaultConfig(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return controller.Config{}, err
	}
	defer f.Close()
	cfg, err := controller.LoadConfig(f)
	if err == nil {
		// Validate now: a bad file is a usage error, found before the
		// data directory is created.
		_, err = controller.New(cfg)
	}
	if err != nil {
		return controller.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "autonomicd:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	cfg, err := loadConfig(o.config)
	if err != nil {
		fmt.Fprintln(stderr, "autonomicd: config:", err)
		return 2
	}
	// Telemetry before the data directory: a bad OTEL_* value is a usage
	// error that leaves nothing behind. Console output goes to stderr so
	// stdout keeps only the address line.
	tel, err := vigil.FromEnv(ctx, vigil.WithLogger(log), vigil.WithAgentName("autonomicd"), vigil.WithStdout(stderr))
	if err != nil {
		fmt.Fprintln(stderr, "autonomicd: telemetry:", err)
		return 2
	}
	defer func() {
		// ctx is done by now (SIGTERM/SIGINT): flush under a fresh deadline.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("autonomic: telemetry flush on shutdown", "err", err)
		}
	}()
	o.tel = tel
	d, err := openDaemon(o, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "autonomicd:", err)
		return 1
	}
	defer d.Close()
	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		fmt.Fprintln(stderr, "autonomicd:", err)
		return 1
	}
	fmt.Fprintf(stdout, "autonomicd listening on http://%s\n", ln.Addr())
	if err := d.Serve(ctx, ln); err != nil {
		fmt.Fprintln(stderr, "autonomicd:", err)
		return 1
	}
	return 0
}
