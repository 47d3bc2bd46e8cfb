package runtime

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lifeos/life/aios"
)

// SnapshotStore keeps the latest folded state of each stream, so that
// reconstruction reads a snapshot plus the journal's tail instead of the
// whole journal. A snapshot is only a cache: losing one costs time, never data.
type SnapshotStore interface {
	// Save stores data as the state of stream through seq, replacing older ones.
	Save(ctx context.Context, stream aios.StreamID, seq uint64, data []byte) error
	// Latest returns the newest snapshot; a missing one is aios.ErrNotFound.
	Latest(ctx context.Context, stream aios.StreamID) (seq uint64, data []byte, err error)
}

// FileSnapshots stores one JSON file per stream under Dir, replaced
// atomically (write to a temporary file, fsync, rename).
type FileSnapshots struct {
	Dir string
}

type snapshotFile struct {
	Seq  uint64          `json:"seq"`
	Data json.RawMessage `json:"data"`
}

func (f FileSnapshots) path(stream aios.StreamID) string {
	// Hex keeps any session or branch name a safe single path element.
	return filepath.Join(f.Dir, hex.EncodeToString([]byte(stream.Session))+"."+hex.EncodeToString([]byte(stream.Branch))+".json")
}

// Save writes the snapshot file.
func (f FileSnapshots) Save(_ context.Context, stream aios.StreamID, seq uint64, data []byte) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the state's bytes exactly
	err := enc.Encode(snapshotFile{Seq: seq, Data: data})
	raw := buf.Bytes()
	if err != nil {
		return fmt.Errorf("runtime: encode snapshot: %w", err)
	}
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return fmt.Errorf("runtime: snapshot dir: %w", err)
	}
	tmp, err := os.CreateTemp(f.Dir, ".snap-*")
	if err != nil {
		return fmt.Errorf("runtime: snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("runtime: write snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("runtime: sync snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("runtime: close snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path(stream)); err != nil {
		return fmt.Errorf("runtime: install snapshot: %w", err)
	}
	return nil
}

// Latest reads the snapshot file.
func (f FileSnapshots) Latest(_ context.Context, stream aios.StreamID) (uint64, []byte, error) {
	raw, err := os.ReadFile(f.path(stream))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, fmt.Errorf("runtime: snapshot of %s/%s: %w", stream.Session, stream.Branch, aios.ErrNotFound)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("runtime: read snapshot: %w", err)
	}
	var s snapshotFile
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, nil, fmt.Errorf("runtime: decode snapshot: %w", err)
	}
	return s.Seq, s.Data, nil
}
