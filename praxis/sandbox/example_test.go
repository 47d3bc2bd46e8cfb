package sandbox_test

import (
	"context"
	"fmt"
	"os"

	"github.com/lifeos/life/praxis/sandbox"
)

func ExampleFsPolicy_Resolve() {
	root, _ := os.MkdirTemp("", "ws")
	defer os.RemoveAll(root)
	p, _ := sandbox.NewFsPolicy(root, sandbox.FsOptions{Deny: []string{".git"}})
	defer p.Close()
	rel, err := p.Resolve("src/../main.go")
	fmt.Println(rel, err)
	_, err = p.Resolve("../../etc/passwd")
	v, _ := sandbox.AsViolation(err)
	fmt.Println(v.Rule)
	_, err = p.Resolve(".git/config")
	v, _ = sandbox.AsViolation(err)
	fmt.Println(v.Rule)
	// Output:
	// main.go <nil>
	// path_outside_workspace
	// path_denied
}

func ExampleRunner_Run() {
	root, _ := os.MkdirTemp("", "ws")
	defer os.RemoveAll(root)
	p, _ := sandbox.NewFsPolicy(root, sandbox.FsOptions{})
	defer p.Close()
	r, _ := sandbox.NewRunner(p, sandbox.RunnerOptions{Tier: sandbox.TierRestricted, AllowShell: true, Limits: sandbox.Limits{OpenFiles: 64}})
	res, err := r.Run(context.Background(), sandbox.Request{Shell: "ulimit -n; echo $HOME | wc -c >/dev/null; exit 2"})
	fmt.Println(res.Stdout, res.ExitCode, res.Tier, res.Mechanisms, err)
	// Output:
	// 64
	//  2 restricted [rlimits scrubbed-env workdir-confined] <nil>
}
