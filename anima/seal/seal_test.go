package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeos/life/anima/identity"
)

var fast = Params{Time: 1, MemoryKiB: 64, Threads: 1}

func newSeed(t *testing.T) identity.Seed {
	t.Helper()
	s, err := identity.NewSeed(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	seed := newSeed(t)
	s, err := Seal(seed, []byte("correct horse"), fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open([]byte("correct horse"))
	if err != nil || got != seed {
		t.Fatalf("open: %v", err)
	}
	k, _ := identity.Derive(seed)
	if s.DID != k.DID() {
		t.Fatal("sealed DID is not the seed's")
	}
	if bytes.Contains(s.Ciphertext, seed[:8]) {
		t.Fatal("ciphertext contains the seed")
	}
}

func TestWrongPassphraseAndTamper(t *testing.T) {
	seed := newSeed(t)
	other, _ := identity.Derive(newSeed(t))
	tests := []struct {
		name   string
		mutate func(*Sealed)
		pass   string
		is     error
	}{
		{"wrong passphrase", func(*Sealed) {}, "wrong", ErrWrongPassphrase},
		{"flipped ciphertext bit", func(s *Sealed) { s.Ciphertext[3] ^= 1 }, "pw", ErrWrongPassphrase},
		{"other salt", func(s *Sealed) { s.Salt[0] ^= 1 }, "pw", ErrWrongPassphrase},
		{"DID swapped (AAD)", func(s *Sealed) { s.DID = other.DID() }, "pw", ErrWrongPassphrase},
		{"short nonce", func(s *Sealed) { s.Nonce = s.Nonce[:4] }, "pw", ErrMalformed},
		{"unknown kdf", func(s *Sealed) { s.KDF = "scrypt" }, "pw", ErrMalformed},
		{"huge memory", func(s *Sealed) { s.Params.MemoryKiB = 1 << 31 }, "pw", ErrMalformed},
		{"zero time", func(s *Sealed) { s.Params.Time = 0 }, "pw", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Seal(seed, []byte("pw"), fast, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(s)
			if _, err := s.Open([]byte(tt.pass)); !errors.Is(err, tt.is) {
				t.Fatalf("got %v, want %v", err, tt.is)
			}
		})
	}
	if _, err := Seal(seed, nil, fast, nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("empty passphrase: %v", err)
	}
}

func TestFileRoundTripAndModes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seed.sealed")
	seed := newSeed(t)
	// Long enough that it cannot turn up in the base64 ciphertext by chance
	// (a two-letter passphrase did, about one run in forty).
	const pass = "sealed-seed passphrase 7f3a9c"
	s, err := Seal(seed, []byte(pass), fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, s); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), pass) {
		t.Fatal("file mentions the passphrase")
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := back.Open([]byte(pass)); err != nil || got != seed {
		t.Fatalf("reopen: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable file loaded: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestLoadRejectsOddFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := Seal(newSeed(t), []byte("pw"), fast, nil)
	good, _ := s.Marshal()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, append(good, bytes.Repeat([]byte(" "), 1<<20)...), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated")
	if err := os.WriteFile(truncated, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, big, sub, truncated} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Load(path); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("got %v, want ErrMalformed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Load blocked")
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	s, _ := Seal(newSeed(t), []byte("pw"), fast, nil)
	good, _ := s.Marshal()
	for _, b := range []string{
		"", "{}", "[]", "null",
		strings.Replace(string(good), `"version": 1`, `"version": 2`, 1),
		strings.Replace(string(good), `"version": 1`, `"version": 1, "extra": 1`, 1),
		string(good) + "{}",
		strings.Repeat(" ", maxFileSize+1),
	} {
		if _, err := Parse([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.40q: %v", b, err)
		}
	}
	if _, err := Parse(good); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	s, _ := Seal(identity.Seed{1, 2, 3}, []byte("pw"), fast, bytes.NewReader(make([]byte, 64)))
	good, _ := s.Marshal()
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"params":{"time":1,"memory_kib":8,"threads":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		// Parsed files have bounded KDF cost; opening fails cleanly.
		if s.Params.MemoryKiB > 1024 || s.Params.Time > 2 {
			return
		}
		_, _ = s.Open([]byte("x"))
	})
}

// TestParamsBounds: parameters read from a file are refused past RFC
// 9106's largest recommendation, before any memory is allocated for them.
func TestParamsBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		ok   bool
	}{
		{"default", DefaultParams(), true},
		{"2 GiB", Params{Time: 1, MemoryKiB: 2 << 20, Threads: 4}, true},
		{"past 2 GiB", Params{Time: 1, MemoryKiB: 2<<20 + 1, Threads: 4}, false},
		{"4 GiB", Params{Time: 1, MemoryKiB: 4 << 20, Threads: 4}, false},
		{"no passes", Params{Time: 0, MemoryKiB: 64, Threads: 1}, false},
		{"too many passes", Params{Time: maxTime + 1, MemoryKiB: 64, Threads: 1}, false},
		{"no threads", Params{Time: 1, MemoryKiB: 64, Threads: 0}, false},
		{"less than 8 KiB a lane", Params{Time: 1, MemoryKiB: 31, Threads: 4}, false},
	} {
		if err := tc.p.validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestDefaultParamsIsACopy(t *testing.T) {
	p := DefaultParams()
	p.MemoryKiB = 1
	if DefaultParams().MemoryKiB != 64*1024 {
		t.Fatal("changing a copy changed the default")
	}
}
