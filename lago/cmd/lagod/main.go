// Command lagod serves a lago data directory over HTTP:
//
//	lagod --data DIR --port N [--auth [--auth-audience lagod] [--auth-did DID]...]
//
// See package server for the API. It is its own module because it wires
// anima's token verifier and vigil's telemetry (the OTEL_* environment)
// into lago, which imports neither.
package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/lifeos/life/anima/token"
	"github.com/lifeos/life/lago/internal/cli"
	"github.com/lifeos/life/vigil"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.MainLagod(ctx, os.Args[1:], os.Stdout, os.Stderr, cli.LagodOptions{
		NewVerifier: func() cli.Verifier { return token.NewVerifier() },
		Telemetry:   telemetry(os.Stderr),
	})
	stop()
	os.Exit(code)
}

// telemetry starts vigil from the OTEL_* environment (no exporter unless
// one is named). Console output goes to stderr: stdout keeps only the
// listen line.
func telemetry(stderr io.Writer) func(context.Context, *slog.Logger) (cli.LagodTelemetry, error) {
	return func(ctx context.Context, log *slog.Logger) (cli.LagodTelemetry, error) {
		tel, err := vigil.FromEnv(ctx, vigil.WithLogger(log), vigil.WithStdout(stderr))
		if err != nil {
			return cli.LagodTelemetry{}, err
		}
		out := cli.LagodTelemetry{Shutdown: tel.Shutdown}
		if tel.Enabled() {
			tp := tracerProvider{t: tel.Tracer()}
			out.Handler = func(h http.Handler) http.Handler {
				return otelhttp.NewHandler(h, "lagod", otelhttp.WithTracerProvider(tp))
			}
			out.Journal = tel.WrapJournal // lago append spans under the request's
		}
		return out, nil
	}
}

// tracerProvider hands otelhttp vigil's tracer: vigil owns the SDK and
// exposes only its tracer, so HTTP spans share its scope and exporters.
type tracerProvider struct {
	embedded.TracerProvider
	t trace.Tracer
}

func (p tracerProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return p.t }
