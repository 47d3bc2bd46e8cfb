package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
	"github.com/lifeos/life/vigil"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A bad OTEL_* value is a usage error naming the variable, found before
// the data directory is created.
func TestTelemetryBadEnv(t *testing.T) {
	for _, env := range [][2]string{
		{"OTEL_TRACES_SAMPLER_ARG", "abc"},
		{"OTEL_METRICS_EXPORTER", "prometheus"},
	} {
		t.Run(env[0], func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", "traceidratio")
			t.Setenv(env[0], env[1])
			data := filepath.Join(t.TempDir(), "data")
			var stderr bytes.Buffer
			if code := run(context.Background(), []string{"--data", data, "--port", "0"}, io.Discard, &stderr); code != 2 ||
				!strings.Contains(stderr.String(), env[0]) {
				t.Errorf("exit %d, want 2 naming %s: %s", code, env[0], stderr.String())
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data directory created: %v", err)
			}
		})
	}
}

// With telemetry on, the changes the daemon journals are `lago append`
// spans and count as mode transitions, its HTTP answers are spans, and the
// projector still snapshots through the wrapped journal.
func TestTelemetryJournalAndHTTP(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	metrics := sdkmetric.NewManualReader()
	tel, err := vigil.New(context.Background(), vigil.Config{}, vigil.WithSpanProcessor(spans), vigil.WithMetricReader(metrics))
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	d, err := newDaemon(j, controller.DefaultConfig(), options{snapshotEvery: 2, tel: tel}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base, stop := serve(t, d, listen(t))
	defer stop()
	id := aios.StreamID{Session: "agent", Branch: "main"}
	getGating(t, base, "agent") // before the stream exists: sovereign
	if _, err := j.Append(ctx, envelope("agent", 1, &aios.BalanceSynced{BalanceMicroCredits: 500_000}),
		envelope("agent", 2, &aios.CostIncurred{AmountMicroCredits: 600_000, Category: "tool"})); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the mode change journaled", func() bool {
		for e, err := range j.Read(ctx, aios.ReadQuery{Stream: id}) {
			if _, ok := e.Payload.(*aios.ModeChanged); ok && err == nil {
				return true
			}
		}
		return false
	})
	if g := getGating(t, base, "agent"); g.EconomicMode != aios.EconomicHibernate {
		t.Fatalf("gating %+v", g)
	}
	waitUntil(t, "a snapshot", func() bool {
		_, data, err := j.LoadSnapshot(ctx, id, "autonomic")
		return err == nil && len(data) > 0
	})

	var names []string
	// vigil ends an append's span just after the append returns.
	waitUntil(t, "a lago append span", func() bool {
		names = names[:0]
		for _, s := range spans.Ended() {
			names = append(names, s.Name())
		}
		return slices.Contains(names, "lago append")
	})
	for _, want := range []string{"lago append", "GET /v1/gating/{session}"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %q span in %q", want, names)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == vigil.MetricModeTransitions {
				for _, dp := range sum.DataPoints {
					k, _ := dp.Attributes.Value(attribute.Key("life.mode.kind"))
					kinds[k.AsString()] += dp.Value
				}
			}
		}
	}
	if kinds["operating"] == 0 && kinds["economic"] == 0 {
		t.Errorf("no mode transitions recorded: %v", kinds)
	}
}

// /healthz says "degraded", with the reason, while the lagod it follows
// does not answer (still 200: restarting autonomicd would not help), and
// "ok" once it does.
func TestHealthzDegradedWhileLagodDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there yet
	d, err := openDaemon(options{lagod: "http://" + addr, poll: 10 * time.Millisecond, idle: time.Minute, maxFollow: 4, snapshotEvery: -1},
		controller.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base, stop := serve(t, d, listen(t))
	defer stop()
	health := func() (int, map[string]any) {
		var h map[string]any
		code, err := httpGetJSON(base+"/healthz", &h)
		if err != nil {
			t.Fatal(err)
		}
		return code, h
	}
	waitUntil(t, "healthz degraded", func() bool {
		code, h := health()
		if code != http.StatusOK {
			t.Fatalf("healthz %d %v", code, h)
		}
		reason, _ := h["reason"].(string)
		return h["status"] == "degraded" && strings.Contains(reason, addr) && h["streams"] == 0.0
	})

	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the lagod's port was taken meanwhile: %v", err)
	}
	lagod := httptest.NewUnstartedServer(server.New(server.Config{Store: st, Logger: slog.New(slog.DiscardHandler)}))
	lagod.Listener.Close()
	lagod.Listener = l2
	lagod.Start()
	defer lagod.Close()
	waitUntil(t, "healthz ok", func() bool {
		code, h := health()
		_, hasReason := h["reason"]
		return code == http.StatusOK && h["status"] == "ok" && !hasReason
	})
}

// With OTEL_TRACES_EXPORTER=console the spans are flushed to stderr when
// the daemon stops (SIGTERM ends run's context), stdout keeps only the
// address line.
func TestTelemetryConsoleFlushedOnStop(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--data", filepath.Join(t.TempDir(), "data"), "--port", "0"}, outW, stderr)
		outW.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "autonomicd listening on "))
	var h map[string]any
	if code, err := httpGetJSON(base+"/healthz", &h); err != nil || code != 200 || h["status"] != "ok" {
		t.Fatalf("healthz %d %v %v", code, h, err)
	}
	cancel()
	go io.Copy(io.Discard, out)
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `{"Name":"GET /healthz"`) {
		t.Fatalf("no healthz span on stderr:\n%s", stderr.String())
	}
}
