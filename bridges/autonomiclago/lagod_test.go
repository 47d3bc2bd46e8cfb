package autonomiclago

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/bridges/lagoremote"
	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
)

// TestLagodRemote runs the suite against a lago journal behind lagod's
// HTTP API, through the remote client.
func TestLagodRemote(t *testing.T) {
	journalSuite(t, func(t *testing.T) aios.Journal {
		st, err := store.Open(t.TempDir(), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t.Cleanup(func() { ts.Close(); st.Close() })
		j, err := lagoremote.New(ts.URL, lagoremote.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return j
	})
}
