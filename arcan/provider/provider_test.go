package provider

import (
	"errors"
	"testing"
)

func TestOpen(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", "")
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("OPENAI_BASE_URL", "")
	for _, n := range []string{"anthropic", "openai"} {
		if _, err := Open(n, Options{}); !errors.Is(err, ErrNoKey) {
			t.Errorf("%s without a key: %v", n, err)
		}
	}
	for _, n := range append(Names, "", "ollama") {
		p, err := Open(n, Options{BaseURL: "http://127.0.0.1:1", APIKey: "k"})
		if err != nil || p == nil {
			t.Fatalf("%q: %v", n, err)
		}
	}
	if _, err := Open("gpt", Options{}); !errors.Is(err, ErrUnknown) {
		t.Fatal(err)
	}
}

func TestLocalServerNeedsNoKey(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "")
	if _, err := Open("ollama", Options{BaseURL: "http://127.0.0.1:11434/v1"}); err != nil {
		t.Fatal(err)
	}
}
