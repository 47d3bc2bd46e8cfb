package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/lifeos/life/aios"
)

// TestUndecodableSnapshot checks a stored snapshot its projection cannot
// decode is an ErrCorrupt error for reads, at every until that would use it,
// and that CheckpointAt rebuilds from the events and replaces it.
func TestUndecodableSnapshot(t *testing.T) {
	ctx := context.Background()
	count := Projection[int]{
		Name:   "count",
		Init:   func() int { return 0 },
		Apply:  func(n int, _ aios.EventEnvelope) (int, error) { return n + 1, nil },
		Encode: func(n int) ([]byte, error) { return json.Marshal(n) },
		Decode: func(b []byte) (int, error) { var n int; err := json.Unmarshal(b, &n); return n, err },
	}
	tests := []struct {
		name    string
		data    string
		until   uint64 // for the read
		readErr bool
		at      uint64 // for the checkpoint
	}{
		{name: "garbage, head", data: "{not json", readErr: true},
		{name: "garbage, until past it", data: "{not json", until: 9, readErr: true, at: 9},
		{name: "garbage, until before it", data: "{not json", until: 3, at: 4},
		{name: "empty", data: "", readErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := openTemp(t)
			st := aios.StreamID{Session: "s", Branch: "main"}
			for i := range 10 {
				if _, err := j.Append(ctx, mkEvent(fmt.Sprintf("e%d", i), "s", "main", "x")); err != nil {
					t.Fatal(err)
				}
			}
			if err := j.SaveSnapshot(ctx, st, count.Name, 5, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			n, _, err := Project(ctx, j, st, count, tt.until)
			if tt.readErr != errors.Is(err, ErrCorrupt) {
				t.Fatalf("project: %d, %v; want ErrCorrupt: %v", n, err, tt.readErr)
			}
			if !tt.readErr && (err != nil || n != int(tt.until)) {
				t.Fatalf("project until %d: %d, %v", tt.until, n, err)
			}
			want := tt.at
			if want == 0 {
				want = 10
			}
			seq, err := CheckpointAt(ctx, j, st, count, tt.at)
			if err != nil || seq != want {
				t.Fatalf("checkpoint: %d, %v", seq, err)
			}
			if n, seq, err := Project(ctx, j, st, count, 0); err != nil || n != 10 || seq != 10 {
				t.Fatalf("project after the checkpoint: %d at %d, %v", n, seq, err)
			}
		})
	}
}
