// Package otelcoltest runs the OpenTelemetry Collector built by
// vigil/otelcol/build.sh for integration tests: it finds the binary, starts
// it on loopback ports with an OTLP receiver, and forwards what it receives
// through its otlp_http exporter to a [Sink] the test reads.
package otelcoltest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Path finds the collector built by otelcol/build.sh: $LIFE_OTELCOL,
// else the build script's cache path.
func Path() (string, bool) {
	if p := os.Getenv("LIFE_OTELCOL"); p != "" {
		_, err := os.Stat(p)
		return p, err == nil
	}
	cache := os.Getenv("LIFE_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", false
		}
		cache = filepath.Join(home, ".cache", "life-go")
	}
	p := filepath.Join(cache, "otelcol", "build", "otelcol-life")
	_, err := os.Stat(p)
	return p, err == nil
}

// Sink is the HTTP server the collector's otlp_http exporter forwards
// to: what it receives is what the collector received and processed.
type Sink struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	res     []*commonpb.KeyValue
	metrics []*metricpb.Metric
	errs    []error
}

func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.fail(fmt.Errorf("gzip: %w", err))
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		s.fail(err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case "/v1/traces":
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			s.errs = append(s.errs, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rs := range req.ResourceSpans {
			s.res = rs.GetResource().GetAttributes()
			for _, ss := range rs.ScopeSpans {
				s.spans = append(s.spans, ss.Spans...)
			}
		}
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	case "/v1/metrics":
		var req colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			s.errs = append(s.errs, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				s.metrics = append(s.metrics, sm.Metrics...)
			}
		}
		out, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	default:
		http.NotFound(w, r)
	}
}

func (s *Sink) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *Sink) Snapshot() ([]*tracepb.Span, []*metricpb.Metric, []*commonpb.KeyValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*tracepb.Span(nil), s.spans...), append([]*metricpb.Metric(nil), s.metrics...), s.res
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs the collector on loopback ports, forwarding traces and
// metrics to sinkURL, and stops it when the test ends. It returns the OTLP
// gRPC and HTTP endpoints. Ports are picked free just before the start, so
// another process may take one first: a collector that exits while
// starting is retried on new ports.
func Start(t testing.TB, bin, sinkURL string) (grpcEP, httpEP string) {
	t.Helper()
	var lastErr error
	for range 3 {
		g, h, err := start(t, bin, sinkURL)
		if err == nil {
			return g, h
		}
		lastErr = err
	}
	t.Fatal(lastErr)
	return "", ""
}

// readyLine is what the collector logs once every pipeline runs.
const readyLine = "Everything is ready"

func start(t testing.TB, bin, sinkURL string) (grpcEP, httpEP string, err error) {
	gp, hp := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
exporters:
  otlp_http:
    endpoint: %s
    compression: none
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: info
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_http, debug]
    metrics:
      receivers: [otlp]
      exporters: [otlp_http, debug]
`, gp, hp, sinkURL)
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	logText := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.String()
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout = &lockedWriter{w: &logs, mu: &logMu}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start collector %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(logText(), readyLine) {
		select {
		case err := <-exited:
			return "", "", fmt.Errorf("collector exited while starting: %v\n%s", err, logText())
		case <-deadline:
			_ = cmd.Process.Kill()
			<-exited
			return "", "", fmt.Errorf("collector not ready after 60s:\n%s", logText())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("collector log:\n%s", logText())
		}
	})
	return fmt.Sprintf("http://127.0.0.1:%d", gp), fmt.Sprintf("http://127.0.0.1:%d", hp), nil
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Attr returns the value of key among kvs.
func Attr(kvs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// Errors returns the problems the sink met decoding what it received.
func (s *Sink) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}
