package journal_test

import (
	"path/filepath"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/journal/journaltest"
)

func TestConformance(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) aios.Journal {
		j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), journal.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		return j
	})
}
