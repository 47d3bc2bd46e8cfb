package vigil

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otelcolPath finds the collector built by otelcol/build.sh: $LIFE_OTELCOL,
// else the build script's cache path.
func otelcolPath() (string, bool) {
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

// otlpSink is the HTTP server the collector's otlp_http exporter forwards
// to: what it receives is what the collector received and processed.
type otlpSink struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	res     []*commonpb.KeyValue
	metrics []*metricpb.Metric
	errs    []error
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

func (s *otlpSink) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *otlpSink) snapshot() ([]*tracepb.Span, []*metricpb.Metric, []*commonpb.KeyValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*tracepb.Span(nil), s.spans...), append([]*metricpb.Metric(nil), s.metrics...), s.res
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCollector runs the built collector on loopback ports, forwarding
// traces and metrics to sinkURL; it returns the OTLP gRPC and HTTP endpoints.
func startCollector(t *testing.T, bin, sinkURL string) (grpcEP, httpEP string) {
	t.Helper()
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
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout = &lockedWriter{w: &logs, mu: &logMu}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start collector: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			logMu.Lock()
			t.Logf("collector log:\n%s", logs.String())
			logMu.Unlock()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for _, port := range []int{gp, hp} {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				logMu.Lock()
				defer logMu.Unlock()
				t.Fatalf("collector exited: %v\n%s", err, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("collector did not listen on %d", port)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return fmt.Sprintf("http://127.0.0.1:%d", gp), fmt.Sprintf("http://127.0.0.1:%d", hp)
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

func pbAttr(kvs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// TestCollectorReceivesTurn runs a turn through the decorators with OTLP
// export (traces over gRPC, metrics over HTTP) to a real OpenTelemetry
// Collector and checks what the collector forwarded: the span tree with the
// GenAI attributes, and the token usage metric.
func TestCollectorReceivesTurn(t *testing.T) {
	bin, ok := otelcolPath()
	if !ok {
		t.Skipf("no OpenTelemetry Collector binary at %s: build it with vigil/otelcol/build.sh or set LIFE_OTELCOL", bin)
	}
	sink := &otlpSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	grpcEP, httpEP := startCollector(t, bin, srv.URL)

	ctx := context.Background()
	tel, err := New(ctx, Config{
		ServiceName: "vigil-collector-test",
		Traces:      SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: ProtocolGRPC, Endpoint: grpcEP},
		Metrics:     SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: ProtocolHTTPProtobuf, Endpoint: httpEP + "/v1/metrics"},
	}, WithAgentName("collector-agent"))
	if err != nil {
		t.Fatal(err)
	}
	fj := newFakeJournal()
	ports := turnPorts{journal: tel.WrapJournal(fj), provider: tel.WrapProvider(&scriptedProvider{}),
		tools: tel.WrapRegistry(oneToolRegistry{echoTool{}}), bind: tel.Bind, ids: aios.NewULIDGenerator(nil, nil)}
	stream := aios.StreamID{Session: "sess-otlp", Branch: "main"}
	if _, err := runTurn(ctx, ports, stream, "say hi"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown (flush to the collector): %v", err)
	}

	var spans []*tracepb.Span
	var metrics []*metricpb.Metric
	var res []*commonpb.KeyValue
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans, metrics, res = sink.snapshot()
		names := map[string]bool{}
		for _, s := range spans {
			names[s.Name] = true
		}
		gotMetric := false
		for _, m := range metrics {
			gotMetric = gotMetric || m.Name == MetricTokenUsage
		}
		if names["invoke_agent collector-agent"] && names["execute_tool echo"] && names["commit"] && gotMetric {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector forwarded %d spans (%v) and %d metrics; sink errors %v", len(spans), names, len(metrics), sink.errs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Logf("collector forwarded %d spans and %d metrics", len(spans), len(metrics))
	if v, ok := pbAttr(res, "service.name"); !ok || v.GetStringValue() != "vigil-collector-test" {
		t.Errorf("resource service.name %v", v)
	}
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[string(s.SpanId)] = s
	}
	path := func(s *tracepb.Span) string {
		var p []string
		for cur := s; len(cur.ParentSpanId) > 0; {
			parent, ok := byID[string(cur.ParentSpanId)]
			if !ok {
				p = append(p, "?")
				break
			}
			p = append(p, parent.Name)
			cur = parent
		}
		return strings.Join(p, "/")
	}
	var chats, tools int
	for _, s := range spans {
		switch s.Name {
		case "chat mock-1":
			chats++
			if !strings.HasPrefix(path(s), "deliberate/step ") || !strings.HasSuffix(path(s), "/invoke_agent collector-agent") {
				t.Errorf("chat under %s", path(s))
			}
			if s.Kind != tracepb.Span_SPAN_KIND_CLIENT {
				t.Errorf("chat kind %v", s.Kind)
			}
			for k, want := range map[string]string{
				"gen_ai.operation.name": "chat", "gen_ai.provider.name": "mock", "gen_ai.request.model": "mock-1",
				"gen_ai.response.model": "mock-1", "life.session_id": "sess-otlp",
			} {
				if v, ok := pbAttr(s.Attributes, k); !ok || v.GetStringValue() != want {
					t.Errorf("chat %s = %v, want %s", k, v, want)
				}
			}
			for k, want := range map[string]int64{"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 7, "gen_ai.request.max_tokens": 256} {
				if v, ok := pbAttr(s.Attributes, k); !ok || v.GetIntValue() != want {
					t.Errorf("chat %s = %v, want %d", k, v, want)
				}
			}
		case "execute_tool echo":
			tools++
			if path(s) != "execute/step 0/invoke_agent collector-agent" {
				t.Errorf("tool under %s", path(s))
			}
			if v, _ := pbAttr(s.Attributes, "gen_ai.tool.call.id"); v.GetStringValue() != "call_0" {
				t.Errorf("tool call id %v", v)
			}
		case "invoke_agent collector-agent":
			if len(s.ParentSpanId) != 0 {
				t.Errorf("run has a parent")
			}
			if v, _ := pbAttr(s.Attributes, "gen_ai.operation.name"); v.GetStringValue() != "invoke_agent" {
				t.Errorf("run operation %v", v)
			}
			// The journal carries this trace: a replay can find it.
			if got := fj.events(stream)[1].TraceID(); got != fmt.Sprintf("%x", s.TraceId) {
				t.Errorf("journaled trace_id %s, collector saw %x", got, s.TraceId)
			}
		}
	}
	if chats != 2 || tools != 1 {
		t.Errorf("chats %d tools %d", chats, tools)
	}

	var input, output int64
	for _, m := range metrics {
		if m.Name != MetricTokenUsage {
			continue
		}
		if m.Unit != "{token}" {
			t.Errorf("token usage unit %q", m.Unit)
		}
		for _, dp := range m.GetHistogram().GetDataPoints() {
			tt, _ := pbAttr(dp.Attributes, "gen_ai.token.type")
			switch tt.GetStringValue() {
			case "input":
				input += int64(dp.GetSum())
			case "output":
				output += int64(dp.GetSum())
			}
		}
	}
	if input != 24 || output != 14 {
		t.Errorf("token usage through the collector: input %d output %d, want 24 and 14", input, output)
	}
}
