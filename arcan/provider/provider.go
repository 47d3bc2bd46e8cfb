// Package provider opens the language-model providers arcan ships by name:
// mock (the default: deterministic, no key), anthropic, and openai (any
// OpenAI-compatible API: OpenAI, Ollama, vLLM, ...).
package provider

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider/anthropic"
	"github.com/lifeos/life/arcan/provider/mock"
	"github.com/lifeos/life/arcan/provider/openai"
)

// ErrUnknown is matched when a provider name is not one of Names.
var ErrUnknown = errors.New("provider: unknown provider")

// ErrNoKey is matched when a hosted API is chosen without its API key.
var ErrNoKey = errors.New("provider: API key missing")

// Names lists the providers Open knows.
var Names = []string{"mock", "anthropic", "openai"}

// Options override the environment (ANTHROPIC_API_KEY, ANTHROPIC_MODEL,
// ANTHROPIC_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL, OPENAI_BASE_URL).
type Options struct {
	Model   string
	BaseURL string
	APIKey  string
}

// Open returns the named provider.
func Open(name string, o Options) (aios.Provider, error) {
	switch name {
	case "", "mock":
		return &mock.Provider{Model: o.Model}, nil
	case "anthropic":
		if o.APIKey == "" && os.Getenv("ANTHROPIC_API_KEY") == "" {
			return nil, fmt.Errorf("%w: set ANTHROPIC_API_KEY (or use --provider mock)", ErrNoKey)
		}
		return anthropic.New(anthropic.Config{APIKey: o.APIKey, BaseURL: o.BaseURL, Model: o.Model}), nil
	case "openai", "ollama", "vllm":
		base := o.BaseURL
		if base == "" {
			base = os.Getenv("OPENAI_BASE_URL")
		}
		// Local servers (Ollama, vLLM) need no key; api.openai.com does.
		if (base == "" || strings.Contains(base, "api.openai.com")) && o.APIKey == "" && os.Getenv("OPENAI_API_KEY") == "" {
			return nil, fmt.Errorf("%w: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server (or use --provider mock)", ErrNoKey)
		}
		return openai.New(openai.Config{APIKey: o.APIKey, BaseURL: o.BaseURL, Model: o.Model, Name: name}), nil
	}
	return nil, fmt.Errorf("%w %q (want one of %v)", ErrUnknown, name, Names)
}
