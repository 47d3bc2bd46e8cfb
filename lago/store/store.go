// Package store opens a lago data directory: the journal file, the blob
// directory and the session filesystem over them.
//
//	DIR/journal.db   bbolt journal
//	DIR/blobs/       content-addressed blobs
package store

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/fsys"
	"github.com/lifeos/life/lago/journal"
)

// Options configure Open.
type Options struct {
	Journal   journal.Options
	Blobs     blob.Options
	MustExist bool // fail instead of creating an empty data dir
}

// Store is an open data directory.
type Store struct {
	Dir     string
	Journal *journal.Journal
	Blobs   *blob.Store
	FS      *fsys.FS
}

// JournalPath is the journal file of a data dir.
func JournalPath(dir string) string { return filepath.Join(dir, "journal.db") }

// Open opens (creating) the data dir.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("store: no data dir given")
	}
	if opts.MustExist {
		if _, err := os.Stat(JournalPath(dir)); err != nil {
			return nil, fmt.Errorf("store: %s has no journal: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	j, err := journal.Open(JournalPath(dir), opts.Journal)
	if err != nil {
		return nil, err
	}
	b, err := blob.Open(filepath.Join(dir, "blobs"), opts.Blobs)
	if err != nil {
		j.Close()
		return nil, err
	}
	return &Store{Dir: dir, Journal: j, Blobs: b, FS: fsys.New(j, b, nil, nil)}, nil
}

// Close closes the journal.
func (s *Store) Close() error { return s.Journal.Close() }
