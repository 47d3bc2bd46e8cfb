package journal

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// FuzzDamagedFile changes bytes of a journal file (a damaged disk, a
// hostile copy) and opens it read-only as lago verify does: Open and Verify
// answer or fail with an error, never panic; a file Verify passes reads
// back every stream it lists.
func FuzzDamagedFile(f *testing.F) {
	base := filepath.Join(f.TempDir(), "base.db")
	j, err := Open(base, Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(fixtures, "branch-fork.json"))
	evs, _ := aios.DecodeEnvelopes(raw)
	if _, err := j.Append(context.Background(), evs...); err != nil {
		f.Fatal(err)
	}
	j.Close()
	orig, err := os.ReadFile(base)
	if err != nil {
		f.Fatal(err)
	}
	ps := uint32(os.Getpagesize())
	f.Add(uint32(0), []byte{0xff})           // meta page 0
	f.Add(ps+16, []byte{1, 2, 3, 4})         // meta page 1
	f.Add(2*ps+8, []byte{0xff, 0xff})        // a page's flags
	f.Add(3*ps, []byte{9, 9, 9, 9, 9, 9, 9}) // a page id
	f.Add(uint32(len(orig)/2), []byte("}{")) // somewhere in the data
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		b := bytes.Clone(orig)
		for i, c := range patch {
			b[(int(off)+i)%len(b)] ^= c
		}
		path := filepath.Join(t.TempDir(), "j.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := Open(path, Options{ReadOnly: true, LockTimeout: time.Second})
		if err != nil {
			return
		}
		defer j.Close()
		ctx := context.Background()
		if _, err := j.Verify(ctx); err != nil {
			return
		}
		infos, err := j.Streams(ctx, "")
		if err != nil {
			t.Fatalf("verified, but streams: %v", err)
		}
		for _, in := range infos {
			n := uint64(0)
			for _, err := range j.ReadRaw(ctx, aios.ReadQuery{Stream: in.Stream}) {
				if err != nil {
					t.Fatalf("verified, but %v: %v", in.Stream, err)
				}
				n++
			}
			if n != in.Head {
				t.Fatalf("verified, but %v reads %d events, head %d", in.Stream, n, in.Head)
			}
		}
	})
}
