package vigil

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string // the variable named in the error
	}{
		{
			name: "defaults export nothing",
			env:  map[string]string{},
			want: Config{
				Traces:  SignalConfig{Exporters: []Exporter{ExporterNone}, Protocol: ProtocolHTTPProtobuf},
				Metrics: SignalConfig{Exporters: []Exporter{ExporterNone}, Protocol: ProtocolHTTPProtobuf},
				Sampler: SamplerParentBasedAlwaysOn,
			},
		},
		{
			name: "otlp http with base endpoint gets signal paths",
			env: map[string]string{
				"OTEL_SERVICE_NAME": "arcand", "OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp,console",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
				"OTEL_TRACES_SAMPLER_ARG": "0.25", EnvCaptureContent: "true",
			},
			want: Config{
				ServiceName:    "arcand",
				Traces:         SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: ProtocolHTTPProtobuf, Endpoint: "http://collector:4318/v1/traces"},
				Metrics:        SignalConfig{Exporters: []Exporter{ExporterOTLP, ExporterConsole}, Protocol: ProtocolHTTPProtobuf, Endpoint: "http://collector:4318/v1/metrics"},
				Sampler:        SamplerParentBasedTraceIDRatio,
				SamplerArg:     0.25,
				CaptureContent: true,
			},
		},
		{
			name: "grpc keeps the endpoint; signal-specific wins and is used as is",
			env: map[string]string{
				"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://127.0.0.1:4317",
				"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
				"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://m.example:443/custom",
				"OTEL_TRACES_SAMPLER":                 "always_off",
			},
			want: Config{
				Traces:  SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: ProtocolGRPC, Endpoint: "http://127.0.0.1:4317"},
				Metrics: SignalConfig{Exporters: []Exporter{ExporterNone}, Protocol: ProtocolHTTPProtobuf, Endpoint: "https://m.example:443/custom"},
				Sampler: SamplerAlwaysOff,
			},
		},
		{
			name: "stdout alias, ratio default",
			env:  map[string]string{"OTEL_TRACES_EXPORTER": "stdout", "OTEL_TRACES_SAMPLER": "TraceIdRatio"},
			want: Config{
				Traces:     SignalConfig{Exporters: []Exporter{ExporterConsole}, Protocol: ProtocolHTTPProtobuf},
				Metrics:    SignalConfig{Exporters: []Exporter{ExporterNone}, Protocol: ProtocolHTTPProtobuf},
				Sampler:    SamplerTraceIDRatio,
				SamplerArg: 1,
			},
		},
		{
			name: "sdk disabled wins",
			env:  map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "bogus"},
			want: Config{},
		},
		{name: "bad disabled", env: map[string]string{"OTEL_SDK_DISABLED": "yes"}, wantErr: "OTEL_SDK_DISABLED"},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "none combined", env: map[string]string{"OTEL_METRICS_EXPORTER": "none,otlp"}, wantErr: "OTEL_METRICS_EXPORTER"},
		{name: "bad protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "json metrics", env: map[string]string{"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"}, wantErr: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"},
		{name: "json for both, metrics over otlp", env: map[string]string{"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{
			// The general protocol names the traces' transport; metrics
			// that do not go over OTLP do not make it an error.
			name: "json for traces, metrics to console",
			env:  map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "console", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			want: Config{
				Traces:  SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: ProtocolHTTPJSON},
				Metrics: SignalConfig{Exporters: []Exporter{ExporterConsole}, Protocol: ProtocolHTTPJSON},
				Sampler: SamplerParentBasedAlwaysOn,
			},
		},
		{name: "endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4317"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "endpoint bad port", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:99999"}, wantErr: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{name: "endpoint credentials", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://u:p@h:4318"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "endpoint no host", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://:4318"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "bad sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "ratio out of range", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "ratio NaN", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "NaN"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "bad capture", env: map[string]string{EnvCaptureContent: "maybe"}, wantErr: EnvCaptureContent},
		// The spec's only true value is "true": "1" must not silently mean
		// false in one SDK and true in another.
		{name: "disabled 1", env: map[string]string{"OTEL_SDK_DISABLED": "1"}, wantErr: "OTEL_SDK_DISABLED"},
		{name: "capture 1", env: map[string]string{EnvCaptureContent: "1"}, wantErr: EnvCaptureContent},
		{name: "ratio not a number", env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "abc"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "ratio 2.0", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2.0"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "ratio negative", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "-0.1"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "ratio Inf", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "Inf"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "empty exporter in list", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp,"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "prometheus metrics", env: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"}, wantErr: "OTEL_METRICS_EXPORTER"},
		{name: "endpoint empty port", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "endpoint empty query", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://collector:4318/v1/metrics?"}, wantErr: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"},
		{name: "endpoint grpc target", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "dns:///collector:4317"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "signal endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318/v1/traces"}, wantErr: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{
			name: "base path kept, signal endpoint without path used as is, case and spaces",
			env: map[string]string{
				"OTEL_SDK_DISABLED": "False", "OTEL_TRACES_EXPORTER": " OTLP , Console ", "OTEL_METRICS_EXPORTER": "otlp",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "HTTP/JSON", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "GRPC",
				"OTEL_EXPORTER_OTLP_ENDPOINT":         "HTTPS://collector.example/otlp",
				"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://[::1]:4317",
				"OTEL_TRACES_SAMPLER":                 "always_on", "OTEL_TRACES_SAMPLER_ARG": "ignored", EnvCaptureContent: "FALSE",
			},
			want: Config{
				Traces:  SignalConfig{Exporters: []Exporter{ExporterOTLP, ExporterConsole}, Protocol: ProtocolHTTPJSON, Endpoint: "https://collector.example/otlp/v1/traces"},
				Metrics: SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: ProtocolGRPC, Endpoint: "http://[::1]:4317"},
				Sampler: SamplerAlwaysOn,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(envOf(tt.env))
			if tt.wantErr != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Var != tt.wantErr || !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want a ConfigError for %s", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("message %q does not name %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("config from env does not validate: %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{Traces: SignalConfig{Exporters: []Exporter{"jaeger"}}},
		{Metrics: SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: ProtocolHTTPJSON}},
		{Traces: SignalConfig{Endpoint: "ftp://x"}},
		{Sampler: "sometimes"},
		{Sampler: SamplerTraceIDRatio, SamplerArg: -1},
	}
	for _, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err %v", c, err)
		}
		if _, err := New(context.Background(), c); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): err %v", c, err)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}

func TestConfigInCodeAnyCase(t *testing.T) {
	// Enum values spelled in another case validate, so New must read them
	// the same way, not fall back to the defaults.
	c := Config{
		Traces:  SignalConfig{Exporters: []Exporter{"STDOUT"}, Protocol: "GRPC"},
		Metrics: SignalConfig{Exporters: []Exporter{" None "}, Protocol: "Http/Protobuf"},
		Sampler: "ALWAYS_OFF",
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Traces:  SignalConfig{Exporters: []Exporter{ExporterConsole}, Protocol: ProtocolGRPC},
		Metrics: SignalConfig{Exporters: []Exporter{ExporterNone}, Protocol: ProtocolHTTPProtobuf},
		Sampler: SamplerAlwaysOff,
	}
	if got := c.normalized(); !reflect.DeepEqual(got, want) {
		t.Errorf("normalized %+v\nwant %+v", got, want)
	}
	if c.Traces.Exporters[0] != "STDOUT" {
		t.Errorf("normalized modified the caller's exporters")
	}
	var buf strings.Builder
	tel := mustNew(t, c, WithStdout(&buf))
	_, span := tel.Tracer().Start(context.Background(), "probe")
	if span.IsRecording() {
		t.Errorf("ALWAYS_OFF sampler not applied")
	}
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("unsampled span exported: %s", buf.String())
	}
}

func TestNewOTLPExportersConstruct(t *testing.T) {
	// Exporters connect lazily: construction must work with no collector up,
	// and Shutdown must not hang on the unreachable endpoint.
	for _, p := range []Protocol{ProtocolGRPC, ProtocolHTTPProtobuf} {
		cfg := Config{
			Traces:  SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: p, Endpoint: "http://127.0.0.1:1/v1/traces"},
			Metrics: SignalConfig{Exporters: []Exporter{ExporterOTLP}, Protocol: p, Endpoint: "http://127.0.0.1:1/v1/metrics"},
		}
		if p == ProtocolGRPC {
			cfg.Traces.Endpoint, cfg.Metrics.Endpoint = "http://127.0.0.1:1", "http://127.0.0.1:1"
		}
		tel := mustNew(t, cfg)
		if !tel.Enabled() {
			t.Errorf("%s: not enabled", p)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 0)
		_ = tel.Shutdown(ctx) // nothing to reach; must return
		cancel()
	}
}

func FuzzConfigFromEnv(f *testing.F) {
	f.Add("otlp", "grpc", "http://127.0.0.1:4317", "", "traceidratio", "0.5", "true", "")
	f.Add("console,otlp", "http/json", "https://h/p", "http://h:4318", "parentbased_always_off", "", "0", "false")
	f.Add("none", "", "localhost:4317", "", "bogus", "x", "", "1")
	f.Fuzz(func(t *testing.T, exporters, protocol, endpoint, tracesEndpoint, sampler, arg, capture, disabled string) {
		env := map[string]string{
			"OTEL_TRACES_EXPORTER": exporters, "OTEL_METRICS_EXPORTER": exporters,
			"OTEL_EXPORTER_OTLP_PROTOCOL": protocol, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": tracesEndpoint,
			"OTEL_TRACES_SAMPLER":                sampler, "OTEL_TRACES_SAMPLER_ARG": arg, EnvCaptureContent: capture,
			"OTEL_SDK_DISABLED": disabled,
		}
		c, err := ConfigFromEnv(envOf(env))
		if err != nil {
			var ce *ConfigError
			if !errors.Is(err, ErrConfig) || !errors.As(err, &ce) || ce.Var == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v (%+v)", err, c)
		}
		if c.SamplerArg < 0 || c.SamplerArg > 1 {
			t.Fatalf("ratio %v", c.SamplerArg)
		}
		for _, ep := range []string{c.Traces.Endpoint, c.Metrics.Endpoint} {
			if ep == "" {
				continue
			}
			u, err := url.Parse(ep)
			if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
				t.Fatalf("accepted endpoint %q", ep)
			}
		}
	})
}

func TestFromEnvConsole(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	var buf strings.Builder
	tel, err := FromEnv(context.Background(), WithStdout(&buf))
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer().Start(context.Background(), "probe")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"Name":"probe"`) || !strings.Contains(buf.String(), "from-env") {
		t.Errorf("console output %q", buf.String())
	}

	// A malformed OTEL_RESOURCE_ATTRIBUTES pair is dropped, and said so.
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=ai,broken")
	var logs strings.Builder
	buf.Reset()
	tel, err = FromEnv(context.Background(), WithStdout(&buf), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	_, span = tel.Tracer().Start(context.Background(), "probe")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"Key":"team"`) || !strings.Contains(logs.String(), "broken") {
		t.Errorf("partial resource: output %q, logs %q", buf.String(), logs.String())
	}

	t.Setenv("OTEL_TRACES_EXPORTER", "jaeger")
	if _, err := FromEnv(context.Background()); !errors.Is(err, ErrConfig) {
		t.Errorf("bad env: %v", err)
	}
}
