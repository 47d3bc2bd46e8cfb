// Package provider opens the language-model providers arcan ships by name:
// mock (the default: deterministic, no key), anthropic, and openai (any
// OpenAI-compatible API: OpenAI, Ollama, vLLM, ...).
package provider

import (
	"errors"
	"fmt"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider/anthropic"
	"github.com/lifeos/life/arcan/provider/mock"
	"github.com/lifeos/life/arcan/provider/openai"
)

// ErrUnknown is matched when a provider name is not one of Names.
var ErrUnknown = errors.New("provider: unknown provider")

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
		return anthropic.New(anthropic.Config{APIKey: o.APIKey, BaseURL: o.BaseURL, Model: o.Model}), nil
	case "openai", "ollama", "vllm":
		return openai.New(openai.Config{APIKey: o.APIKey, BaseURL: o.BaseURL, Model: o.Model, Name: name}), nil
	}
	return nil, fmt.Errorf("%w %q (want one of %v)", ErrUnknown, name, Names)
}
