package provider

import (
	"errors"
	"testing"
)

func TestOpen(t *testing.T) {
	for _, n := range append(Names, "", "ollama") {
		p, err := Open(n, Options{BaseURL: "http://127.0.0.1:1"})
		if err != nil || p == nil {
			t.Fatalf("%q: %v", n, err)
		}
	}
	if _, err := Open("gpt", Options{}); !errors.Is(err, ErrUnknown) {
		t.Fatal(err)
	}
}
