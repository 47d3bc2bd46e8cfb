package vigil

import (
	"context"
	"net"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/vigil/internal/otelcoltest"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// TestShutdownLeavesNoGoroutines runs a turn with every exporter kind and
// checks that Shutdown stops all the goroutines New and the exporters
// started (batchers, periodic readers, gRPC connections, HTTP clients).
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	for _, p := range []Protocol{ProtocolHTTPProtobuf, ProtocolGRPC} {
		t.Run(string(p), func(t *testing.T) {
			sink := &otelcoltest.Sink{}
			srv := httptest.NewServer(sink)
			defer srv.Close()
			tep, mep := srv.URL+"/v1/traces", srv.URL+"/v1/metrics"
			if p == ProtocolGRPC {
				tep = fakeGRPCCollector(t)
				mep = tep
			}
			before := runtime.NumGoroutine()
			tel := mustNew(t, Config{
				Traces:  SignalConfig{Exporters: []Exporter{ExporterOTLP, ExporterConsole}, Protocol: p, Endpoint: tep},
				Metrics: SignalConfig{Exporters: []Exporter{ExporterOTLP, ExporterConsole}, Protocol: p, Endpoint: mep},
			}, WithStdout(discard{}))
			ports := turnPorts{journal: tel.WrapJournal(newFakeJournal()), provider: tel.WrapProvider(&scriptedProvider{}),
				tools: tel.WrapRegistry(oneToolRegistry{echoTool{}}), bind: tel.Bind, ids: aios.NewULIDGenerator(nil, nil)}
			if _, err := runTurn(context.Background(), ports, aios.StreamID{Session: "s", Branch: "main"}, "x"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := tel.Shutdown(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			srv.CloseClientConnections()
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines after Shutdown, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}

// fakeGRPCCollector serves the OTLP trace and metric services on loopback,
// accepting everything, until the test ends; it returns the endpoint URL.
func fakeGRPCCollector(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, fakeTraceService{})
	colmetricpb.RegisterMetricsServiceServer(srv, fakeMetricsService{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return "http://" + lis.Addr().String()
}

type fakeTraceService struct {
	coltracepb.UnimplementedTraceServiceServer
}

func (fakeTraceService) Export(context.Context, *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type fakeMetricsService struct {
	colmetricpb.UnimplementedMetricsServiceServer
}

func (fakeMetricsService) Export(context.Context, *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
