package journal

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeos/life/aios"
)

// FuzzAppendReadVerify feeds decoded envelopes (outside input, as from
// import or HTTP) through append, read and verify: whatever decodes and
// validates must store, read back equal, and verify.
func FuzzAppendReadVerify(f *testing.F) {
	for _, name := range []string{"simple-chat.json", "forward-compat.json", "tool-round-trip.json"} {
		raw, _ := os.ReadFile(filepath.Join(fixtures, name))
		evs, _ := aios.DecodeEnvelopes(raw)
		for _, e := range evs {
			b, _ := aios.EncodeEnvelope(e)
			f.Add(b)
		}
	}
	f.Add([]byte(`{"event_id":"e\"1","session_id":"s","branch_id":"main","seq":9,"timestamp":5,"payload":{"type":"UserMessage","content":"<&>\u2028"},"metadata":{"a\"":"\\","digest":"x","zz":"é","\u2029":"<"},"schema_version":3}`))
	f.Add([]byte(`{"event_id":"x","session_id":"s","branch_id":"b","seq":0,"timestamp":1,"payload":{"type":"Nope","seq":0,"metadata":{}},"metadata":{}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := aios.DecodeEnvelope(raw)
		if err != nil || e.Validate() != nil {
			return
		}
		if _, ok := e.Payload.(*aios.BranchCreated); ok {
			return // needs a parent head; covered by the branch tests
		}
		j, err := Open(filepath.Join(t.TempDir(), "j.db"), Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		ctx := context.Background()
		seqs, err := j.Append(ctx, e)
		if err != nil {
			if checkStream(aios.StreamID{Session: e.SessionID, Branch: e.BranchID}) != nil {
				return
			}
			t.Fatalf("valid event refused: %v", err)
		}
		var got []aios.EventEnvelope
		for ev, err := range j.Read(ctx, aios.ReadQuery{Stream: aios.StreamID{Session: e.SessionID, Branch: e.BranchID}}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
		}
		if len(got) != 1 || got[0].Seq != seqs[0] {
			t.Fatalf("read back %v", got)
		}
		g := got[0]
		g.Seq = e.Seq
		delete(g.Metadata, aios.MetaDigest)
		if v, ok := e.Metadata[aios.MetaDigest]; ok {
			g.Metadata[aios.MetaDigest] = v
		}
		a, _ := aios.EncodeEnvelope(g)
		b, _ := aios.EncodeEnvelope(e)
		if string(a) != string(b) {
			t.Fatalf("changed:\n%s\n%s", a, b)
		}
		if _, err := j.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
