package journal

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
)

const crashEnv = "LAGO_JOURNAL_CRASH_CHILD"

// TestCrashChild is the appender run in a child process by TestCrashKill9.
// It appends durably from several goroutines and prints "id seq branch" for
// each acknowledged event, until it is killed.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("child process of TestCrashKill9 only")
	}
	path, round, _ := strings.Cut(spec, ",")
	j, err := Open(path, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			branch := []string{"main", "side"}[w%2]
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%s-w%d-%d", round, w, i)
				batch := []aios.EventEnvelope{mkEvent(id, "crash", branch, strings.Repeat("x", i%300))}
				if i%5 == 4 { // some multi-event appends too
					batch = append(batch, mkEvent(id+"b", "crash", branch, "second"))
				}
				seqs, err := j.Append(context.Background(), batch...)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(4)
				}
				mu.Lock()
				for k, s := range seqs {
					fmt.Fprintf(out, "%s %d %s\n", batch[k].EventID, s, branch)
				}
				out.Flush() // the ack is only "given" once it reaches the parent
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrashKill9 kills a durable appender with SIGKILL at random points and
// checks that every acknowledged event survived, at its acknowledged seq,
// with no gaps and an intact digest chain.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(42, 7))
	const rounds = 20
	acked := map[string]struct {
		seq    uint64
		branch string
	}{}
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path+","+strconv.Itoa(round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// wait for the first ack so the kill lands mid-append, then a random delay
		first, ok := <-lines
		if !ok {
			cmd.Wait()
			t.Fatalf("round %d: child produced no ack: %s", round, stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(120)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		got := []string{first}
		for l := range lines {
			got = append(got, l)
		}
		_ = cmd.Wait()
		for _, l := range got {
			f := strings.Fields(l)
			if len(f) != 3 {
				continue // a line cut by the kill was never an ack
			}
			s, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				continue
			}
			acked[f[0]] = struct {
				seq    uint64
				branch string
			}{s, f[2]}
		}
		checkCrashDB(t, path, round, acked)
	}
	t.Logf("%d rounds, %d acknowledged events all present", rounds, len(acked))
}

func checkCrashDB(t *testing.T, path string, round int, acked map[string]struct {
	seq    uint64
	branch string
}) {
	t.Helper()
	ctx := context.Background()
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer j.Close()
	if _, err := j.Verify(ctx); err != nil {
		t.Fatalf("round %d: verify: %v", round, err)
	}
	stored := map[string]uint64{}
	for _, b := range []string{"main", "side"} {
		for e, err := range j.Read(ctx, aios.ReadQuery{Stream: aios.StreamID{Session: "crash", Branch: b}}) {
			if err != nil {
				t.Fatalf("round %d: read: %v", round, err)
			}
			stored[e.EventID] = e.Seq
		}
	}
	for id, a := range acked {
		if s, ok := stored[id]; !ok || s != a.seq {
			t.Fatalf("round %d: acked %s at %s/%d, stored at %d (present %v)", round, id, a.branch, a.seq, s, ok)
		}
	}
	// appending acked events again must dedup, also for the ids that were
	// only in memory when the child died
	n := 0
	for id, a := range acked {
		if n++; n > 50 {
			break
		}
		seqs, err := j.Append(ctx, mkEvent(id, "crash", a.branch, "again"))
		if err != nil || seqs[0] != a.seq {
			t.Fatalf("round %d: re-append %s: %v %v (want seq %d)", round, id, seqs, err, a.seq)
		}
	}
}
