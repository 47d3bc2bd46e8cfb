package vigil

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/vigil/internal/otelcoltest"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TestCollectorReceivesTurn runs a turn through the decorators with OTLP
// export (over gRPC, HTTP protobuf and HTTP JSON) to a real OpenTelemetry
// Collector and checks what the collector forwarded: the span tree with the
// GenAI attributes, and the token usage metric.
func TestCollectorReceivesTurn(t *testing.T) {
	bin, ok := otelcoltest.Path()
	if !ok {
		t.Skipf("no OpenTelemetry Collector binary at %s: build it with vigil/otelcol/build.sh or set LIFE_OTELCOL", bin)
	}
	for _, tt := range []struct{ traces, metrics Protocol }{
		{ProtocolGRPC, ProtocolHTTPProtobuf},
		{ProtocolHTTPProtobuf, ProtocolGRPC},
		{ProtocolHTTPJSON, ProtocolHTTPProtobuf},
	} {
		t.Run("traces="+string(tt.traces)+",metrics="+string(tt.metrics), func(t *testing.T) {
			collectorTurn(t, bin, tt.traces, tt.metrics)
		})
	}
}

func collectorTurn(t *testing.T, bin string, tp, mp Protocol) {
	sink := &otelcoltest.Sink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	grpcEP, httpEP := otelcoltest.Start(t, bin, srv.URL)
	endpoint := func(p Protocol, path string) string {
		if p == ProtocolGRPC {
			return grpcEP
		}
		return httpEP + path
	}

	ctx := context.Background()
	tel, err := New(ctx, Config{
		ServiceName: "vigil-collector-test",
		Traces:      SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: tp, Endpoint: endpoint(tp, "/v1/traces")},
		Metrics:     SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: mp, Endpoint: endpoint(mp, "/v1/metrics")},
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
		spans, metrics, res = sink.Snapshot()
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
			t.Fatalf("collector forwarded %d spans (%v) and %d metrics; sink errors %v", len(spans), names, len(metrics), sink.Errors())
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Logf("collector forwarded %d spans and %d metrics", len(spans), len(metrics))
	if v, ok := otelcoltest.Attr(res, "service.name"); !ok || v.GetStringValue() != "vigil-collector-test" {
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
				if v, ok := otelcoltest.Attr(s.Attributes, k); !ok || v.GetStringValue() != want {
					t.Errorf("chat %s = %v, want %s", k, v, want)
				}
			}
			for k, want := range map[string]int64{"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 7, "gen_ai.request.max_tokens": 256} {
				if v, ok := otelcoltest.Attr(s.Attributes, k); !ok || v.GetIntValue() != want {
					t.Errorf("chat %s = %v, want %d", k, v, want)
				}
			}
		case "execute_tool echo":
			tools++
			if path(s) != "execute/step 0/invoke_agent collector-agent" {
				t.Errorf("tool under %s", path(s))
			}
			if v, _ := otelcoltest.Attr(s.Attributes, "gen_ai.tool.call.id"); v.GetStringValue() != "call_0" {
				t.Errorf("tool call id %v", v)
			}
		case "invoke_agent collector-agent":
			if len(s.ParentSpanId) != 0 {
				t.Errorf("run has a parent")
			}
			if v, _ := otelcoltest.Attr(s.Attributes, "gen_ai.operation.name"); v.GetStringValue() != "invoke_agent" {
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
			tt, _ := otelcoltest.Attr(dp.Attributes, "gen_ai.token.type")
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
