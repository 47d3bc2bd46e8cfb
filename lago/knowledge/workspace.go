package knowledge

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/fsys"
)

// Workspace keeps an Index in step with the markdown files (*.md) of one
// branch of the session filesystem: Sync reads the file events appended
// since the last sync and re-indexes only the files they changed.
type Workspace struct {
	fs *fsys.FS
	st aios.StreamID
	ix *Index

	mu       sync.Mutex
	seq      uint64
	manifest fsys.Manifest
	errs     map[string]error // per path: notes that failed to read or parse
}

// NewWorkspace returns an unsynced workspace index.
func NewWorkspace(fs *fsys.FS, st aios.StreamID) *Workspace {
	return &Workspace{fs: fs, st: st, ix: NewIndex(), manifest: fsys.Manifest{}, errs: map[string]error{}}
}

// Index returns the index (synced as of the last Sync).
func (w *Workspace) Index() *Index { return w.ix }

// Errors returns the notes that could not be read or parsed at the last Sync.
func (w *Workspace) Errors() map[string]error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.errs)
}

// IsNote reports whether a workspace path is indexed.
func IsNote(p string) bool { return strings.HasSuffix(strings.ToLower(p), ".md") }

// Sync applies the events after the last synced seq and returns the seq
// now covered.
func (w *Workspace) Sync(ctx context.Context) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	next := maps.Clone(w.manifest)
	seq := w.seq
	for e, err := range w.fs.J.Read(ctx, aios.ReadQuery{Stream: w.st, After: w.seq}) {
		if err != nil {
			return w.seq, err
		}
		if next, err = next.Apply(e); err != nil {
			return w.seq, err
		}
		seq = e.Seq
	}
	if seq == w.seq {
		return seq, nil
	}
	for _, c := range fsys.Diff(w.manifest, next) {
		if !IsNote(c.Path) {
			continue
		}
		if c.Kind == fsys.Removed {
			w.ix.Remove(c.Path)
			delete(w.errs, c.Path)
			continue
		}
		data, err := w.fs.Blobs.ReadAll(ctx, c.NewHash)
		if ctx.Err() != nil {
			return w.seq, fmt.Errorf("knowledge: read %s: %w", c.Path, ctx.Err())
		}
		var d Doc
		if err == nil {
			d, err = Parse(c.Path, data)
		}
		if err != nil {
			// a FileWrite naming a blob not stored (or corrupt) is this
			// note's error, not the whole index's: it cannot be taken back
			w.ix.Remove(c.Path)
			w.errs[c.Path] = err
			continue
		}
		delete(w.errs, c.Path)
		w.ix.Add(d)
	}
	w.manifest, w.seq = next, seq
	return seq, nil
}
