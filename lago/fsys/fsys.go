// Package fsys is the session filesystem: an agent's workspace kept as
// events. File contents live in the blob store; FileWrite, FileDelete and
// FileRename events in the journal say which path holds which blob. The
// manifest of a branch at any seq is the fold of those events, so reading a
// file at a past seq gives the bytes it had then, and a branch forked at a
// seq restores the workspace as it was.
package fsys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/journal"
)

// ErrInvalidPath is matched when a path is empty, absolute, has .. or NUL.
var ErrInvalidPath = errors.New("fsys: invalid path")

// ErrInvalidMode is matched when a FileWrite's mode is not a number.
var ErrInvalidMode = errors.New("fsys: invalid mode")

// Entry is one file of a manifest.
type Entry struct {
	Hash        string      `json:"hash"`
	Size        uint64      `json:"size"`
	Mode        fs.FileMode `json:"mode"`
	ContentType string      `json:"content_type,omitempty"`
	Seq         uint64      `json:"seq"` // seq of the event that wrote it
}

// Manifest maps paths to files: the projection of file events.
type Manifest map[string]Entry

// Paths returns the paths sorted.
func (m Manifest) Paths() []string { return slices.Sorted(maps.Keys(m)) }

// ModeKey is the extra FileWrite payload key carrying the file mode (the
// reference kind has none; readers that do not know it drop it).
const ModeKey = "mode"

// DefaultMode is the mode of a file written without one.
const DefaultMode fs.FileMode = 0o644

// Mode returns the file mode a FileWrite event carries (DefaultMode when
// none); a mode that is not an unsigned 32-bit number is ErrInvalidMode.
func Mode(e aios.EventEnvelope) (fs.FileMode, error) {
	raw, ok := e.PayloadExtra[ModeKey]
	if !ok {
		return DefaultMode, nil
	}
	var v uint32
	if err := json.Unmarshal(raw, &v); err != nil {
		return DefaultMode, fmt.Errorf("%w: %s", ErrInvalidMode, raw)
	}
	return fs.FileMode(v).Perm(), nil
}

// Apply folds one event into m (in place) and returns it. A stored event
// cannot be taken back, so one with a bad mode gets DefaultMode instead of
// failing every later listing of its branch.
func (m Manifest) Apply(e aios.EventEnvelope) (Manifest, error) {
	switch p := e.Payload.(type) {
	case *aios.FileWrite:
		mode, _ := Mode(e)
		m[p.Path] = Entry{Hash: p.BlobHash, Size: p.SizeBytes, Mode: mode, ContentType: p.ContentType, Seq: e.Seq}
	case *aios.FileDelete:
		delete(m, p.Path)
	case *aios.FileRename:
		if ent, ok := m[p.OldPath]; ok {
			delete(m, p.OldPath)
			ent.Seq = e.Seq
			m[p.NewPath] = ent
		}
	}
	return m, nil
}

// Projection is the manifest as a journal projection (for snapshots).
var Projection = journal.Projection[Manifest]{
	Name:   "fsys.manifest",
	Init:   func() Manifest { return Manifest{} },
	Apply:  func(m Manifest, e aios.EventEnvelope) (Manifest, error) { return m.Apply(e) },
	Encode: func(m Manifest) ([]byte, error) { return json.Marshal(m) },
	Decode: func(b []byte) (Manifest, error) {
		m := Manifest{}
		return m, json.Unmarshal(b, &m)
	},
}

// FS is the filesystem of the sessions of one journal and blob store.
type FS struct {
	J     *journal.Journal
	Blobs *blob.Store
	IDs   aios.IDGenerator
	Clock aios.Clock
}

// New returns an FS; ids and clock stamp the events it writes (ULIDs and the
// system clock when nil).
func New(j *journal.Journal, blobs *blob.Store, ids aios.IDGenerator, clock aios.Clock) *FS {
	if clock == nil {
		clock = aios.SystemClock{}
	}
	if ids == nil {
		ids = aios.NewULIDGenerator(clock, nil)
	}
	return &FS{J: j, Blobs: blobs, IDs: ids, Clock: clock}
}

// CleanPath validates a workspace path and returns its clean form.
func CleanPath(p string) (string, error) {
	if p == "" || strings.ContainsRune(p, 0) || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return "", fmt.Errorf("%w: %q", ErrInvalidPath, p)
	}
	c := path.Clean(p)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: %q", ErrInvalidPath, p)
	}
	return c, nil
}

func (f *FS) append(ctx context.Context, st aios.StreamID, p aios.Payload, extra map[string]json.RawMessage) (uint64, error) {
	ev := aios.NewEnvelope(f.IDs, f.Clock, st.Session, st.Branch, p)
	ev.PayloadExtra = extra
	seqs, err := f.J.Append(ctx, ev)
	if err != nil {
		return 0, err
	}
	return seqs[0], nil
}

// Write stores r's bytes as path on st and returns the event's seq.
func (f *FS) Write(ctx context.Context, st aios.StreamID, p string, r io.Reader, mode fs.FileMode, contentType string) (uint64, error) {
	c, err := CleanPath(p)
	if err != nil {
		return 0, err
	}
	info, err := f.Blobs.Put(ctx, r)
	if err != nil {
		return 0, fmt.Errorf("fsys: write %s: %w", c, err)
	}
	if mode == 0 {
		mode = DefaultMode
	}
	extra := map[string]json.RawMessage{ModeKey: json.RawMessage(fmt.Sprint(uint32(mode.Perm())))}
	return f.append(ctx, st, &aios.FileWrite{Path: c, BlobHash: info.Hash, SizeBytes: uint64(info.Size), ContentType: contentType}, extra)
}

// Delete removes path; a missing path is aios.ErrNotFound.
func (f *FS) Delete(ctx context.Context, st aios.StreamID, p string) (uint64, error) {
	c, err := CleanPath(p)
	if err != nil {
		return 0, err
	}
	m, _, err := f.List(ctx, st, 0)
	if err != nil {
		return 0, err
	}
	if _, ok := m[c]; !ok {
		return 0, fmt.Errorf("fsys: delete %s: %w", c, aios.ErrNotFound)
	}
	return f.append(ctx, st, &aios.FileDelete{Path: c}, nil)
}

// Rename moves oldPath to newPath (replacing it if present).
func (f *FS) Rename(ctx context.Context, st aios.StreamID, oldPath, newPath string) (uint64, error) {
	o, err := CleanPath(oldPath)
	if err != nil {
		return 0, err
	}
	n, err := CleanPath(newPath)
	if err != nil {
		return 0, err
	}
	m, _, err := f.List(ctx, st, 0)
	if err != nil {
		return 0, err
	}
	if _, ok := m[o]; !ok {
		return 0, fmt.Errorf("fsys: rename %s: %w", o, aios.ErrNotFound)
	}
	return f.append(ctx, st, &aios.FileRename{OldPath: o, NewPath: n}, nil)
}

// List returns the manifest of st at seq (0: head) and the seq it covers,
// starting from the manifest snapshot when there is one.
func (f *FS) List(ctx context.Context, st aios.StreamID, seq uint64) (Manifest, uint64, error) {
	return journal.Project(ctx, f.J, st, Projection, seq)
}

// Open returns the bytes path had on st at seq (0: head), verified against
// their hash as they are read.
func (f *FS) Open(ctx context.Context, st aios.StreamID, p string, seq uint64) (io.ReadCloser, Entry, error) {
	c, err := CleanPath(p)
	if err != nil {
		return nil, Entry{}, err
	}
	m, _, err := f.List(ctx, st, seq)
	if err != nil {
		return nil, Entry{}, err
	}
	ent, ok := m[c]
	if !ok {
		return nil, Entry{}, fmt.Errorf("fsys: %s at seq %d: %w", c, seq, aios.ErrNotFound)
	}
	rc, err := f.Blobs.Get(ctx, ent.Hash)
	if err != nil {
		return nil, ent, fmt.Errorf("fsys: %s: %w", c, err)
	}
	return rc, ent, nil
}

// ReadFile is Open and read all.
func (f *FS) ReadFile(ctx context.Context, st aios.StreamID, p string, seq uint64) ([]byte, error) {
	rc, _, err := f.Open(ctx, st, p, seq)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// ChangeKind says how a path differs between two manifests.
type ChangeKind string

const (
	Added    ChangeKind = "added"
	Removed  ChangeKind = "removed"
	Modified ChangeKind = "modified"
)

// Change is one differing path.
type Change struct {
	Path    string     `json:"path"`
	Kind    ChangeKind `json:"kind"`
	OldHash string     `json:"old_hash,omitempty"`
	NewHash string     `json:"new_hash,omitempty"`
}

// Diff lists the changes from a to b, sorted by path. A mode change counts
// as modified.
func Diff(a, b Manifest) []Change {
	var out []Change
	for p, ea := range a {
		eb, ok := b[p]
		switch {
		case !ok:
			out = append(out, Change{Path: p, Kind: Removed, OldHash: ea.Hash})
		case ea.Hash != eb.Hash || ea.Mode != eb.Mode:
			out = append(out, Change{Path: p, Kind: Modified, OldHash: ea.Hash, NewHash: eb.Hash})
		}
	}
	for p, eb := range b {
		if _, ok := a[p]; !ok {
			out = append(out, Change{Path: p, Kind: Added, NewHash: eb.Hash})
		}
	}
	slices.SortFunc(out, func(x, y Change) int { return strings.Compare(x.Path, y.Path) })
	return out
}

// Snapshot checkpoints the manifest of st at seq (0: head) as a journal
// snapshot, so later listings replay only the tail. It returns the seq
// covered.
func (f *FS) Snapshot(ctx context.Context, st aios.StreamID, seq uint64) (uint64, error) {
	return journal.CheckpointAt(ctx, f.J, st, Projection, seq)
}

// Restore makes branch newBranch whose workspace is st's at seq (a fork of
// st at seq: the files are shared blobs, nothing is copied).
func (f *FS) Restore(ctx context.Context, st aios.StreamID, seq uint64, newBranch string) error {
	if seq == 0 {
		return fmt.Errorf("fsys: restore at seq 0: %w", journal.ErrInvalid)
	}
	_, err := f.J.Fork(ctx, f.IDs, f.Clock, st, newBranch, seq)
	return err
}
