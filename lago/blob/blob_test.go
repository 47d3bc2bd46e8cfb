package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
)

func TestPutGetRoundTrip(t *testing.T) {
	ctx := context.Background()
	big := bytes.Repeat([]byte("lago blob "), 200_000)
	for _, compress := range []bool{false, true} {
		for _, data := range [][]byte{nil, []byte("x"), []byte("hello world"), big} {
			t.Run(fmt.Sprintf("compress=%v/len=%d", compress, len(data)), func(t *testing.T) {
				s, err := Open(t.TempDir(), Options{Compress: compress})
				if err != nil {
					t.Fatal(err)
				}
				info, err := s.Put(ctx, bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				if info.Hash != Hash(data) || info.Size != int64(len(data)) {
					t.Fatalf("info %+v, want %s/%d", info, Hash(data), len(data))
				}
				got, err := s.ReadAll(ctx, info.Hash)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read back %d bytes, err %v", len(got), err)
				}
				st, err := s.Stat(ctx, info.Hash)
				if err != nil || st != info {
					t.Fatalf("stat %+v %v", st, err)
				}
				if compress && len(data) == len(big) {
					fi, _ := os.Stat(s.path(info.Hash))
					if fi.Size() > int64(len(data))/10 {
						t.Fatalf("compressed file is %d bytes for %d", fi.Size(), len(data))
					}
				}
			})
		}
	}
}

func TestDedupAndConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := Open(dir, Options{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Put(ctx, strings.NewReader("same bytes")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	h := Hash([]byte("same bytes"))
	entries, _ := os.ReadDir(filepath.Join(dir, h[:2]))
	if len(entries) != 1 {
		t.Fatalf("%d files for one blob", len(entries))
	}
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("temporary files left: %d", len(tmp))
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	for _, compress := range []bool{false, true} {
		s, _ := Open(t.TempDir(), Options{Compress: compress, MaxSize: 100})
		info, err := s.Put(ctx, strings.NewReader(strings.Repeat("a", 100)))
		if err != nil {
			t.Fatalf("exactly MaxSize: %v", err)
		}
		tests := []struct {
			name string
			run  func() error
			want error
		}{
			{"too large", func() error { _, err := s.Put(ctx, strings.NewReader(strings.Repeat("b", 101))); return err }, ErrTooLarge},
			{"missing", func() error { _, err := s.Get(ctx, Hash([]byte("nope"))); return err }, aios.ErrNotFound},
			{"bad hash", func() error { _, err := s.Stat(ctx, "../../etc/passwd"); return err }, ErrInvalidHash},
			{"upper hex", func() error { _, err := s.Get(ctx, strings.ToUpper(info.Hash)); return err }, ErrInvalidHash},
			{"flipped byte", func() error {
				p := s.path(info.Hash)
				b, _ := os.ReadFile(p)
				b[len(b)-1] ^= 1
				os.WriteFile(p, b, 0o600)
				_, err := s.ReadAll(ctx, info.Hash)
				return err
			}, ErrCorrupt},
			{"truncated", func() error {
				p := s.path(info.Hash)
				b, _ := os.ReadFile(p)
				os.WriteFile(p, b[:len(b)-5], 0o600)
				_, err := s.ReadAll(ctx, info.Hash)
				return err
			}, ErrCorrupt},
			{"bad header", func() error {
				os.WriteFile(s.path(info.Hash), []byte("XX"), 0o600)
				_, err := s.Get(ctx, info.Hash)
				return err
			}, ErrCorrupt},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/compress=%v", tt.name, compress), func(t *testing.T) {
				if err := tt.run(); !errors.Is(err, tt.want) {
					t.Fatalf("err %v, want %v", err, tt.want)
				}
			})
		}
	}
}

func TestPutExpect(t *testing.T) {
	ctx := context.Background()
	for _, compress := range []bool{false, true} {
		s, _ := Open(t.TempDir(), Options{Compress: compress})
		want := Hash([]byte("other"))
		tests := []struct {
			name, data, want string
			err              error
		}{
			{"match", "data", Hash([]byte("data")), nil},
			{"mismatch stores nothing", "data!", want, ErrMismatch},
			{"bad hash", "never stored", "../x", ErrInvalidHash},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/compress=%v", tt.name, compress), func(t *testing.T) {
				info, err := s.PutExpect(ctx, strings.NewReader(tt.data), tt.want)
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				if stored := s.Has(Hash([]byte(tt.data))); stored != (tt.err == nil) || (tt.err == nil && info.Hash != tt.want) {
					t.Fatalf("stored %v, info %+v", stored, info)
				}
				if tmp, _ := os.ReadDir(filepath.Join(s.dir, "tmp")); len(tmp) != 0 {
					t.Fatalf("temporary files left: %v", tmp)
				}
			})
		}
	}
}

// TestOpenRemovesStaleTemporaries: a crashed Put's temporary file is
// removed at the next Open once it is old; a recent one (an upload in
// flight in another process) is kept.
func TestOpenRemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	old, fresh := filepath.Join(dir, "tmp", "put-old"), filepath.Join(dir, "tmp", "put-fresh")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-staleTmp - time.Hour)
	if err := os.Chtimes(old, then, then); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temporary kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("recent temporary removed: %v", err)
	}
}

func TestCancelledPut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ := Open(t.TempDir(), Options{})
	if _, err := s.Put(ctx, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func FuzzValidHash(f *testing.F) {
	f.Add("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
	f.Add("../x")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		if ValidHash(h) {
			s, _ := Open(t.TempDir(), Options{})
			if filepath.Dir(filepath.Dir(s.path(h))) != s.dir {
				t.Fatalf("hash %q escapes the store", h)
			}
		}
	})
}

// FuzzStoredFile puts arbitrary bytes where a blob file is (a damaged disk,
// a hand-edited store): reading is an error matching ErrCorrupt, or exactly
// the bytes that hash to the blob's name.
func FuzzStoredFile(f *testing.F) {
	ctx := context.Background()
	for _, compress := range []bool{false, true} {
		s, _ := Open(f.TempDir(), Options{Compress: compress})
		info, _ := s.Put(ctx, strings.NewReader("hello blob"))
		b, _ := os.ReadFile(s.path(info.Hash))
		f.Add(b)
	}
	f.Add([]byte("LAGB\x01\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("LAGB\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("XX"))
	want := "hello blob"
	f.Fuzz(func(t *testing.T, file []byte) {
		s, _ := Open(t.TempDir(), Options{})
		h := Hash([]byte(want))
		os.MkdirAll(filepath.Dir(s.path(h)), 0o700)
		if err := os.WriteFile(s.path(h), file, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, h); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("stat: %v", err)
		}
		got, err := s.ReadAll(ctx, h)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read: %v", err)
			}
			return
		}
		if string(got) != want {
			t.Fatalf("read %q as %s", got, h)
		}
	})
}

func Example() {
	dir, _ := os.MkdirTemp("", "blobs")
	defer os.RemoveAll(dir)
	s, _ := Open(dir, Options{Compress: true})
	ctx := context.Background()
	info, _ := s.Put(ctx, strings.NewReader("hello"))
	rc, _ := s.Get(ctx, info.Hash)
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	fmt.Println(info.Size, string(b))
	// Output: 5 hello
}

// TestPutSyncsDirectories checks Put fsyncs every directory whose entries it
// changed (the store root when it makes a fan-out directory, the fan-out
// directory after the rename, and again on a dedup), and that a failed
// fsync is Put's error, leaving no temporary behind.
func TestPutSyncsDirectories(t *testing.T) {
	ctx := context.Background()
	errSync := errors.New("fake sync failure")
	data := []byte("durable")
	h := Hash(data)
	tests := []struct {
		name     string
		prePut   bool   // the blob is already stored (dedup)
		preDir   bool   // its fan-out directory already exists
		failOn   string // "root", "fanout" or ""
		wantSync []string
		wantErr  bool
	}{
		{name: "new fan-out", wantSync: []string{"root", "fanout"}},
		{name: "existing fan-out", preDir: true, wantSync: []string{"fanout"}},
		{name: "dedup", prePut: true, wantSync: []string{"fanout"}},
		{name: "root sync fails", failOn: "root", wantSync: []string{"root"}, wantErr: true},
		{name: "fan-out sync fails", failOn: "fanout", wantSync: []string{"root", "fanout"}, wantErr: true},
		{name: "dedup sync fails", prePut: true, failOn: "fanout", wantSync: []string{"fanout"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fanout := filepath.Dir(s.path(h))
			if tt.prePut {
				if _, err := s.Put(ctx, bytes.NewReader(data)); err != nil {
					t.Fatal(err)
				}
			} else if tt.preDir {
				if err := os.Mkdir(fanout, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			s.syncDir = func(d string) error {
				name := map[string]string{dir: "root", fanout: "fanout"}[d]
				if name == "" {
					name = d
				}
				got = append(got, name)
				if name == tt.failOn {
					return errSync
				}
				return syncDir(d)
			}
			_, err = s.Put(ctx, bytes.NewReader(data))
			if tt.wantErr != errors.Is(err, errSync) {
				t.Fatalf("err %v, want the sync failure: %v", err, tt.wantErr)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantSync) {
				t.Fatalf("synced %v, want %v", got, tt.wantSync)
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
				t.Fatalf("temporaries left: %v", ents)
			}
			// Whatever is under the final name is the whole blob.
			if s.Has(h) {
				if b, err := s.ReadAll(ctx, h); err != nil || !bytes.Equal(b, data) {
					t.Fatalf("stored blob reads %q, %v", b, err)
				}
			}
		})
	}
}

// TestOpenSyncsNewDirectories checks Open fsyncs the parent of each
// directory it makes for the store, and fails when that fsync does.
func TestOpenSyncsNewDirectories(t *testing.T) {
	errSync := errors.New("fake sync failure")
	tests := []struct {
		name     string
		rel      string // the store, under a fresh temp dir
		failOn   string
		wantSync []string
	}{
		{name: "existing", rel: ".", wantSync: nil},
		{name: "new", rel: "blobs", wantSync: []string{"."}},
		{name: "new nested", rel: "data/blobs", wantSync: []string{"data", "."}},
		{name: "sync fails", rel: "data/blobs", failOn: ".", wantSync: []string{"data", "."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			var got []string
			sync := func(d string) error {
				rel, _ := filepath.Rel(base, d)
				got = append(got, rel)
				if rel == tt.failOn {
					return errSync
				}
				return syncDir(d)
			}
			s, err := open(filepath.Join(base, tt.rel), Options{}, sync)
			if (tt.failOn != "") != errors.Is(err, errSync) {
				t.Fatalf("err %v, fail on %q", err, tt.failOn)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantSync) {
				t.Fatalf("synced %v, want %v", got, tt.wantSync)
			}
			if err == nil {
				if _, err := s.Put(context.Background(), strings.NewReader("x")); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
