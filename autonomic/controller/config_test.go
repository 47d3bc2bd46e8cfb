package controller

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestExampleConfig: the shipped example configuration is the default one,
// written out in full, and loads back to it.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "config.example.json")
	if *update {
		writeJSON(t, path, DefaultConfig())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		a, _ := json.Marshal(cfg)
		b, _ := json.Marshal(DefaultConfig())
		t.Fatalf("example config differs from the default:\n%s\n%s", a, b)
	}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}
