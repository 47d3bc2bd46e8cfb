package policy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/policy"
)

func Example() {
	dir, _ := os.MkdirTemp("", "policy")
	defer os.RemoveAll(dir)
	j, _ := journal.Open(filepath.Join(dir, "j.db"), journal.Options{})
	defer j.Close()
	ctx := context.Background()
	e := policy.New(j, policy.Quotas{EventsPerMinute: 100}, nil, nil)
	e.Claim(ctx, "alice", "s") // alice made session s: she owns it
	e.Grant(ctx, "alice", "s", "bob", policy.Reader)
	fmt.Println(e.Authorize(ctx, "bob", "s", policy.Read))
	err := e.Authorize(ctx, "bob", "s", policy.Write)
	var r *policy.Refusal
	fmt.Println(errors.As(err, &r), r.Status)
	// Output:
	// <nil>
	// true 403
}
