package vigil

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Exporter names an export target, as OTEL_TRACES_EXPORTER and
// OTEL_METRICS_EXPORTER spell them.
type Exporter string

const (
	ExporterNone    Exporter = "none"
	ExporterOTLP    Exporter = "otlp"
	ExporterConsole Exporter = "console" // stdout; "stdout" is read as an alias
)

// Protocol is an OTLP transport, as OTEL_EXPORTER_OTLP_PROTOCOL spells it.
type Protocol string

const (
	ProtocolGRPC         Protocol = "grpc"
	ProtocolHTTPProtobuf Protocol = "http/protobuf"
	ProtocolHTTPJSON     Protocol = "http/json" // traces only: the Go metric exporter has no JSON encoding
)

// Sampler names a head sampler, as OTEL_TRACES_SAMPLER spells it.
type Sampler string

const (
	SamplerAlwaysOn                Sampler = "always_on"
	SamplerAlwaysOff               Sampler = "always_off"
	SamplerTraceIDRatio            Sampler = "traceidratio"
	SamplerParentBasedAlwaysOn     Sampler = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    Sampler = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio Sampler = "parentbased_traceidratio"
)

// SignalConfig is the export target of one signal (traces or metrics).
type SignalConfig struct {
	// Exporters lists where the signal goes; empty or only "none" disables it.
	Exporters []Exporter
	// Protocol is the OTLP transport.
	Protocol Protocol
	// Endpoint is the full OTLP URL the exporter sends to (for HTTP, with
	// the /v1/traces or /v1/metrics path). Empty leaves the exporter's own
	// default and environment handling in place.
	Endpoint string
}

// Enabled reports whether the signal has an exporter other than none.
func (s SignalConfig) Enabled() bool {
	return slices.ContainsFunc(s.Exporters, func(e Exporter) bool { return e != ExporterNone })
}

// Config says what vigil exports and how. The zero value exports nothing.
type Config struct {
	// ServiceName is the service.name resource attribute; OTEL_SERVICE_NAME
	// and OTEL_RESOURCE_ATTRIBUTES are also applied by the resource detector.
	ServiceName string
	Traces      SignalConfig
	Metrics     SignalConfig
	// Sampler and SamplerArg choose the head sampler; empty means
	// parentbased_always_on. SamplerArg is the ratio for the ratio samplers.
	Sampler    Sampler
	SamplerArg float64
	// CaptureContent records prompt and completion text on spans (off by
	// default); a Redactor option can rewrite it first.
	CaptureContent bool
}

// ErrConfig is matched by every configuration error.
var ErrConfig = errors.New("vigil: invalid telemetry configuration")

// ConfigError names the variable (or field) that is wrong and why.
type ConfigError struct {
	Var    string
	Value  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("vigil: %s=%q: %s", e.Var, e.Value, e.Reason)
}

// Is makes every ConfigError match ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Environment variables read by [ConfigFromEnv] beyond the OTel standard ones.
const (
	// EnvCaptureContent is the variable the OTel GenAI instrumentations use
	// to turn on message content capture.
	EnvCaptureContent = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
)

// ConfigFromOS reads the configuration from the process environment.
func ConfigFromOS() (Config, error) { return ConfigFromEnv(os.Getenv) }

// ConfigFromEnv reads the standard OTEL_* variables through getenv:
// OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_TRACES_EXPORTER,
// OTEL_METRICS_EXPORTER (default none, unlike the spec's otlp: telemetry is
// opt-in here), OTEL_EXPORTER_OTLP_PROTOCOL and its _TRACES_/_METRICS_
// forms, OTEL_EXPORTER_OTLP_ENDPOINT and its _TRACES_/_METRICS_ forms,
// OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG and
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT. Headers, TLS, timeouts,
// compression and batching variables are left to the exporters and the SDK,
// which read them themselves. Every bad value is a *ConfigError.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	var c Config

	if v := get("OTEL_SDK_DISABLED"); v != "" {
		off, err := parseBool("OTEL_SDK_DISABLED", v)
		if err != nil {
			return Config{}, err
		}
		if off {
			return Config{ServiceName: get("OTEL_SERVICE_NAME")}, nil
		}
	}
	c.ServiceName = get("OTEL_SERVICE_NAME")

	var err error
	if c.Traces.Exporters, err = parseExporters("OTEL_TRACES_EXPORTER", get("OTEL_TRACES_EXPORTER")); err != nil {
		return Config{}, err
	}
	if c.Metrics.Exporters, err = parseExporters("OTEL_METRICS_EXPORTER", get("OTEL_METRICS_EXPORTER")); err != nil {
		return Config{}, err
	}
	for _, s := range []struct {
		sig  *SignalConfig
		name string // TRACES or METRICS
		path string
	}{{&c.Traces, "TRACES", "/v1/traces"}, {&c.Metrics, "METRICS", "/v1/metrics"}} {
		pv, pval := "OTEL_EXPORTER_OTLP_"+s.name+"_PROTOCOL", get("OTEL_EXPORTER_OTLP_"+s.name+"_PROTOCOL")
		if pval == "" {
			pv, pval = "OTEL_EXPORTER_OTLP_PROTOCOL", get("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		// http/json is refused for metrics only when they go over OTLP: a
		// general OTEL_EXPORTER_OTLP_PROTOCOL=http/json for traces is fine.
		jsonless := s.name == "METRICS" && slices.Contains(s.sig.Exporters, ExporterOTLP)
		if s.sig.Protocol, err = parseProtocol(pv, pval, jsonless); err != nil {
			return Config{}, err
		}
		ev := "OTEL_EXPORTER_OTLP_" + s.name + "_ENDPOINT"
		if v := get(ev); v != "" {
			// The signal-specific endpoint is used as is.
			if s.sig.Endpoint, err = parseEndpoint(ev, v, "", s.sig.Protocol); err != nil {
				return Config{}, err
			}
		} else if v := get("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
			// The base endpoint gets the signal's path for HTTP.
			if s.sig.Endpoint, err = parseEndpoint("OTEL_EXPORTER_OTLP_ENDPOINT", v, s.path, s.sig.Protocol); err != nil {
				return Config{}, err
			}
		}
	}

	if c.Sampler, c.SamplerArg, err = parseSampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return Config{}, err
	}
	if v := get(EnvCaptureContent); v != "" {
		if c.CaptureContent, err = parseBool(EnvCaptureContent, v); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// normalized spells the enum fields the way ConfigFromEnv does (lower
// case, "stdout" as console), so a Config built in code as {Protocol:
// "GRPC"} selects the gRPC exporter instead of passing Validate and then
// matching nothing.
func (c Config) normalized() Config {
	for _, s := range []*SignalConfig{&c.Traces, &c.Metrics} {
		if len(s.Exporters) > 0 {
			ex := make([]Exporter, len(s.Exporters))
			for i, e := range s.Exporters {
				ex[i] = Exporter(strings.ToLower(strings.TrimSpace(string(e))))
				if ex[i] == "stdout" {
					ex[i] = ExporterConsole
				}
			}
			s.Exporters = ex
		}
		s.Protocol = Protocol(strings.ToLower(strings.TrimSpace(string(s.Protocol))))
	}
	c.Sampler = Sampler(strings.ToLower(strings.TrimSpace(string(c.Sampler))))
	return c
}

// Validate checks a Config built in code the way ConfigFromEnv checks the
// environment (enum values in any case).
func (c Config) Validate() error {
	c = c.normalized()
	for _, s := range []struct {
		name string
		sig  SignalConfig
	}{{"Traces", c.Traces}, {"Metrics", c.Metrics}} {
		for _, e := range s.sig.Exporters {
			if !slices.Contains([]Exporter{ExporterNone, ExporterOTLP, ExporterConsole}, e) {
				return &ConfigError{Var: s.name + ".Exporters", Value: string(e), Reason: "want otlp, console or none"}
			}
		}
		if s.sig.Protocol != "" {
			jsonless := s.name == "Metrics" && slices.Contains(s.sig.Exporters, ExporterOTLP)
			if _, err := parseProtocol(s.name+".Protocol", string(s.sig.Protocol), jsonless); err != nil {
				return err
			}
		}
		if s.sig.Endpoint != "" {
			if _, err := parseEndpoint(s.name+".Endpoint", s.sig.Endpoint, "", s.sig.Protocol); err != nil {
				return err
			}
		}
	}
	if c.Sampler != "" {
		if _, _, err := parseSampler(string(c.Sampler), strconv.FormatFloat(c.SamplerArg, 'g', -1, 64)); err != nil {
			return err
		}
	}
	return nil
}

// parseBool reads an OTel boolean: the spec's only true value is "true"
// (any case), so "1", "yes" and the like are refused rather than read as
// false behind the user's back.
func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, &ConfigError{Var: name, Value: v, Reason: "want true or false"}
}

func parseExporters(name, v string) ([]Exporter, error) {
	if v == "" {
		return []Exporter{ExporterNone}, nil
	}
	var out []Exporter
	for part := range strings.SplitSeq(v, ",") {
		e := Exporter(strings.ToLower(strings.TrimSpace(part)))
		switch e {
		case "stdout":
			e = ExporterConsole
		case ExporterNone, ExporterOTLP, ExporterConsole:
		default:
			return nil, &ConfigError{Var: name, Value: v, Reason: fmt.Sprintf("unsupported exporter %q (want otlp, console or none)", part)}
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) > 1 && slices.Contains(out, ExporterNone) {
		return nil, &ConfigError{Var: name, Value: v, Reason: "none cannot be combined with other exporters"}
	}
	return out, nil
}

// parseProtocol reads an OTLP protocol; noJSON refuses http/json, which the
// Go metric exporter cannot send.
func parseProtocol(name, v string, noJSON bool) (Protocol, error) {
	switch p := Protocol(strings.ToLower(v)); p {
	case "":
		return ProtocolHTTPProtobuf, nil // the spec's default
	case ProtocolGRPC, ProtocolHTTPProtobuf:
		return p, nil
	case ProtocolHTTPJSON:
		if noJSON {
			return "", &ConfigError{Var: name, Value: v, Reason: "http/json is not supported for metrics by the Go exporter; use grpc or http/protobuf (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL)"}
		}
		return p, nil
	}
	return "", &ConfigError{Var: name, Value: v, Reason: "want grpc, http/protobuf or http/json"}
}

// parseEndpoint checks an OTLP endpoint URL and, for HTTP, appends path to a
// base URL.
func parseEndpoint(name, v, path string, p Protocol) (string, error) {
	u, err := url.Parse(v)
	if err != nil {
		return "", &ConfigError{Var: name, Value: v, Reason: "not a URL: " + err.Error()}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", &ConfigError{Var: name, Value: v, Reason: "want an http:// or https:// URL"}
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", &ConfigError{Var: name, Value: v, Reason: "URL has no host"}
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", &ConfigError{Var: name, Value: v, Reason: "empty port"}
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", &ConfigError{Var: name, Value: v, Reason: "bad port"}
		}
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", &ConfigError{Var: name, Value: v, Reason: "URL must not carry credentials, a query or a fragment (use OTEL_EXPORTER_OTLP_HEADERS)"}
	}
	if path != "" && p != ProtocolGRPC {
		u.Path = strings.TrimSuffix(u.Path, "/") + path
	}
	return u.String(), nil
}

func parseSampler(name, arg string) (Sampler, float64, error) {
	s := Sampler(strings.ToLower(name))
	switch s {
	case "":
		s = SamplerParentBasedAlwaysOn
	case SamplerAlwaysOn, SamplerAlwaysOff, SamplerParentBasedAlwaysOn, SamplerParentBasedAlwaysOff:
	case SamplerTraceIDRatio, SamplerParentBasedTraceIDRatio:
		if arg == "" {
			return s, 1, nil // the spec's default ratio
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 || r != r {
			return "", 0, &ConfigError{Var: "OTEL_TRACES_SAMPLER_ARG", Value: arg, Reason: "want a ratio between 0 and 1"}
		}
		return s, r, nil
	default:
		return "", 0, &ConfigError{Var: "OTEL_TRACES_SAMPLER", Value: name, Reason: "want always_on, always_off, traceidratio or a parentbased_ form of them"}
	}
	return s, 0, nil
}
