// Package blob is a content-addressed store on the filesystem: each blob is
// a file named by the Blake3 hash (lowercase hex) of its bytes, written to a
// temporary file and renamed into place, optionally zstd-compressed, and
// checked against its hash whenever it is read. It implements aios.BlobStore.
package blob

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/lifeos/life/aios"
	"github.com/zeebo/blake3"
)

// Errors callers branch on.
var (
	// ErrCorrupt is matched when stored bytes do not match their hash.
	ErrCorrupt = errors.New("blob: corrupt")
	// ErrInvalidHash is matched when a hash is not 64 lowercase hex digits.
	ErrInvalidHash = errors.New("blob: invalid hash")
	// ErrTooLarge is matched when a Put exceeds Options.MaxSize.
	ErrTooLarge = errors.New("blob: too large")
	// ErrMismatch is matched when PutExpect's bytes hash to another hash.
	ErrMismatch = errors.New("blob: content does not match its hash")
)

// File header: magic, codec, original size. Keeping the size in the header
// lets Stat answer without decompressing.
const (
	magic      = "LAGB"
	headerSize = 4 + 1 + 8
	codecRaw   = 0
	codecZstd  = 1
)

// Options configure a Store.
type Options struct {
	// Compress stores new blobs zstd-compressed.
	Compress bool
	// MaxSize refuses blobs larger than this many bytes (0: no limit).
	MaxSize int64
}

// Store is a blob directory. It is safe for concurrent use, across
// processes too: writes are atomic renames of complete files.
type Store struct {
	dir  string
	opts Options
	// syncDir makes a directory's entries durable; tests swap it to fail
	// or record.
	syncDir func(dir string) error
}

var _ aios.BlobStore = (*Store)(nil)

// staleTmp is the age past which a temporary file is a crashed Put's: no
// upload in flight (of this process or another) is that old.
const staleTmp = 24 * time.Hour

// Open uses (creating) dir as a blob store. Temporary files left by Puts
// that crashed long ago are removed.
func Open(dir string, opts Options) (*Store, error) {
	return open(dir, opts, syncDir)
}

func open(dir string, opts Options, sync func(string) error) (*Store, error) {
	// A store directory made here must itself survive a power cut: fsync
	// the parent of each directory MkdirAll makes (tmp needs no such care).
	var parents []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		parents = append(parents, filepath.Dir(d))
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", dir, err)
	}
	for _, p := range parents {
		if err := sync(p); err != nil {
			return nil, fmt.Errorf("blob: open %s: sync %s: %w", dir, p, err)
		}
	}
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, de := range ents {
			if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > staleTmp {
				os.Remove(filepath.Join(tmp, de.Name()))
			}
		}
	}
	return &Store{dir: dir, opts: opts, syncDir: sync}, nil
}

// ValidHash reports whether h is a Blake3 hex hash.
func ValidHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Store) path(h string) string { return filepath.Join(s.dir, h[:2], h[2:]) }

// Hash returns the Blake3 hex hash of b.
func Hash(b []byte) string {
	sum := blake3.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type limitErrReader struct {
	r   io.Reader
	n   int64 // remaining allowance, -1 for none
	err error
}

func (l *limitErrReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		// probe for one more byte: exactly MaxSize is fine
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, l.err
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// Put streams r into the store and returns its hash and size. Storing bytes
// already present keeps the existing file.
func (s *Store) Put(ctx context.Context, r io.Reader) (aios.BlobInfo, error) {
	return s.put(ctx, r, "")
}

// PutExpect is Put for bytes that must hash to want: when they do not,
// nothing is stored and the error matches ErrMismatch.
func (s *Store) PutExpect(ctx context.Context, r io.Reader, want string) (aios.BlobInfo, error) {
	if !ValidHash(want) {
		return aios.BlobInfo{}, fmt.Errorf("%w: %q", ErrInvalidHash, want)
	}
	return s.put(ctx, r, want)
}

func (s *Store) put(ctx context.Context, r io.Reader, want string) (aios.BlobInfo, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()
	codec := byte(codecRaw)
	if s.opts.Compress {
		codec = codecZstd
	}
	var hdr [headerSize]byte
	copy(hdr[:], magic)
	hdr[4] = codec
	if _, err := tmp.Write(hdr[:]); err != nil {
		return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
	}
	h := blake3.New()
	var w io.Writer = tmp
	var zw *zstd.Encoder
	if codec == codecZstd {
		if zw, err = zstd.NewWriter(tmp, zstd.WithEncoderConcurrency(1)); err != nil {
			return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
		}
		w = zw
	}
	limit := int64(-1)
	if s.opts.MaxSize > 0 {
		limit = s.opts.MaxSize
	}
	src := &limitErrReader{r: ctxReader{ctx, r}, n: limit, err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, s.opts.MaxSize)}
	n, err := io.Copy(io.MultiWriter(w, h), src)
	if err != nil {
		if zw != nil {
			zw.Close()
		}
		return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
		}
	}
	binary.BigEndian.PutUint64(hdr[5:], uint64(n))
	if _, err := tmp.WriteAt(hdr[:], 0); err != nil {
		return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
	}
	info := aios.BlobInfo{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}
	if want != "" && info.Hash != want {
		return aios.BlobInfo{}, fmt.Errorf("%w: content hashes to %s, not %s", ErrMismatch, info.Hash, want)
	}
	dst := s.path(info.Hash)
	if _, err := os.Stat(dst); err == nil {
		// dedup; the entry may be another Put's whose directory fsync has
		// not happened yet (or failed), so make it durable before saying so
		if err := s.syncDir(filepath.Dir(dst)); err != nil {
			return aios.BlobInfo{}, fmt.Errorf("blob: put: sync %s: %w", filepath.Dir(dst), err)
		}
		return info, nil
	}
	if err := tmp.Sync(); err != nil {
		return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
	}
	// A new fan-out directory's own entry must be durable too, or a power
	// cut loses the blob after the caller journaled its hash.
	switch err := os.Mkdir(filepath.Dir(dst), 0o700); {
	case err == nil:
		if err := s.syncDir(s.dir); err != nil {
			return aios.BlobInfo{}, fmt.Errorf("blob: put: sync %s: %w", s.dir, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return aios.BlobInfo{}, fmt.Errorf("blob: put: %w", err)
	}
	// Without this fsync the rename can be lost on power failure after Put
	// returned; callers journal the hash next, so it is not best effort.
	if err := s.syncDir(filepath.Dir(dst)); err != nil {
		return aios.BlobInfo{}, fmt.Errorf("blob: put: sync %s: %w", filepath.Dir(dst), err)
	}
	return info, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	if cerr := d.Close(); serr == nil {
		serr = cerr
	}
	return serr
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *Store) open(h string) (*os.File, [headerSize]byte, error) {
	var hdr [headerSize]byte
	if !ValidHash(h) {
		return nil, hdr, fmt.Errorf("%w: %q", ErrInvalidHash, h)
	}
	f, err := os.Open(s.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, hdr, fmt.Errorf("blob %s: %w", h, aios.ErrNotFound)
	}
	if err != nil {
		return nil, hdr, fmt.Errorf("blob: open %s: %w", h, err)
	}
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:4]) != magic || hdr[4] > codecZstd {
		f.Close()
		return nil, hdr, fmt.Errorf("%w: %s: bad header", ErrCorrupt, h)
	}
	return f, hdr, nil
}

// Stat describes a stored blob.
func (s *Store) Stat(ctx context.Context, h string) (aios.BlobInfo, error) {
	if err := ctx.Err(); err != nil {
		return aios.BlobInfo{}, err
	}
	f, hdr, err := s.open(h)
	if err != nil {
		return aios.BlobInfo{}, err
	}
	f.Close()
	return aios.BlobInfo{Hash: h, Size: int64(binary.BigEndian.Uint64(hdr[5:]))}, nil
}

// Has reports whether the blob is stored.
func (s *Store) Has(h string) bool {
	if !ValidHash(h) {
		return false
	}
	_, err := os.Stat(s.path(h))
	return err == nil
}

// Get opens a blob for reading. The reader fails with ErrCorrupt at the end
// (instead of io.EOF) when the bytes do not hash to h or their length
// differs from the stored size; callers must read to EOF to be sure.
func (s *Store) Get(ctx context.Context, h string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, hdr, err := s.open(h)
	if err != nil {
		return nil, err
	}
	v := &verifier{f: f, want: h, size: int64(binary.BigEndian.Uint64(hdr[5:])), h: blake3.New()}
	v.r = f
	if hdr[4] == codecZstd {
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, h, err)
		}
		v.zr, v.r = zr, zr
	}
	return v, nil
}

// ReadAll returns a whole blob, verified.
func (s *Store) ReadAll(ctx context.Context, h string) ([]byte, error) {
	rc, err := s.Get(ctx, h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

type verifier struct {
	f    *os.File
	zr   *zstd.Decoder
	r    io.Reader
	h    hash.Hash
	n    int64
	size int64
	want string
	err  error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.size {
		v.err = fmt.Errorf("%w: %s longer than its %d bytes", ErrCorrupt, v.want, v.size)
		return 0, v.err
	}
	if errors.Is(err, io.EOF) {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want || v.n != v.size {
			v.err = fmt.Errorf("%w: %s reads back as %s (%d of %d bytes)", ErrCorrupt, v.want, got, v.n, v.size)
			return n, v.err
		}
		v.err = io.EOF
	} else if err != nil {
		v.err = fmt.Errorf("%w: %s: %v", ErrCorrupt, v.want, err)
		return n, v.err
	}
	return n, err
}

func (v *verifier) Close() error {
	if v.zr != nil {
		v.zr.Close()
	}
	return v.f.Close()
}
