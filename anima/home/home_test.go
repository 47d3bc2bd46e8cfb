package home

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/identity"
	"github.com/lifeos/life/anima/seal"
	"github.com/lifeos/life/anima/soul"
	"github.com/lifeos/life/anima/token"
)

var fast = seal.Params{Time: 1, MemoryKiB: 64, Threads: 1}

type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func create(t *testing.T) (string, *Identity) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "agent")
	_, id, err := Create(context.Background(), dir, []byte("pw"), Options{Name: "scout", KDF: fast,
		Values: soul.Values{CapabilityCeiling: []string{"chat:*"}}})
	if err != nil {
		t.Fatal(err)
	}
	return dir, id
}

func TestCreateLoadModes(t *testing.T) {
	dir, id := create(t)
	if !strings.HasPrefix(id.DID, "did:key:zDn") {
		t.Fatalf("DID %s", id.DID)
	}
	if _, err := identity.ParseAddress(id.WalletAddress); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s mode %v", e.Name(), info.Mode().Perm())
		}
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(b, []byte(`"pw"`)) {
			t.Fatalf("%s contains the passphrase", e.Name())
		}
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.DID != id.DID || back.Soul.Origin.Name != "scout" || back.Genesis.SoulHash != back.Soul.Hash() {
		t.Fatal("reloaded identity differs")
	}
	if _, _, err := Create(context.Background(), dir, []byte("pw"), Options{Name: "again", KDF: fast}); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, _, err := Unlock(dir, []byte("wrong")); !errors.Is(err, seal.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	c, _, err := Unlock(dir, []byte("pw"))
	if err != nil || c.DID() != id.DID {
		t.Fatalf("unlock: %v", err)
	}
}

func TestRotateTwiceAndRevoke(t *testing.T) {
	dir, id := create(t)
	clock := &stepClock{t: time.Now()}
	c0, _, _ := Unlock(dir, []byte("pw"))
	oldTok, err := token.Issue(context.Background(), c0, aios.KeyAuth, token.Request{Audience: []string{"x"}, TTL: time.Minute}, &stepClock{t: time.Now().Add(-5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	rot1, id1, err := Rotate(context.Background(), dir, []byte("pw"), fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	rot2, id2, err := Rotate(context.Background(), dir, []byte("pw"), fast, clock)
	if err != nil {
		t.Fatal(err)
	}
	if rot1.OldDID != id.DID || rot2.OldDID != id1.DID || id2.DID == id1.DID {
		t.Fatal("rotations do not chain")
	}
	if len(id2.History) != 3 || id2.History[0] != id.DID || id2.History[2] != id2.DID {
		t.Fatalf("history %v", id2.History)
	}
	if id2.WalletAddress == id.WalletAddress || id2.WalletDID != rot2.NewWalletDID {
		t.Fatalf("wallet not followed: %s %s", id2.WalletAddress, id2.WalletDID)
	}
	// The new seed is what is sealed now, and the old passphrase opens it.
	c, _, err := Unlock(dir, []byte("pw"))
	if err != nil || c.DID() != id2.DID || c.WalletAddress() != id2.WalletAddress {
		t.Fatalf("unlock after rotation: %v", err)
	}
	// A token from the genesis key, issued before the rotation, still
	// verifies against the home's chain and leads to the current DID.
	v := token.NewVerifier(token.WithRegistry(id2.Registry))
	r, err := v.VerifyDetail(context.Background(), oldTok, "x")
	if err != nil || r.CurrentDID != id2.DID || r.Hops != 2 {
		t.Fatalf("old token: %+v %v", r, err)
	}
	// Revoke the current DID: rotation is refused and tokens die.
	id3, err := Revoke(dir, id2.DID, "compromised", nil)
	if err != nil || !id3.Revoked {
		t.Fatalf("revoke: %v", err)
	}
	if _, _, err := Rotate(context.Background(), dir, []byte("pw"), fast, nil); err == nil {
		t.Fatal("revoked identity rotated")
	}
	v.SetRegistry(id3.Registry)
	if _, err := v.Verify(context.Background(), oldTok, "x"); !errors.Is(err, token.ErrRevoked) {
		t.Fatalf("token after revocation: %v", err)
	}
	if _, err := Revoke(dir, "did:web:x", "nope", nil); err == nil {
		t.Fatal("revocation of a non did:key accepted")
	}
}

// A crash after the events were written but before the new seed replaced
// the old one is finished on the next load; a crash before the events is
// rolled back.
func TestPendingRotation(t *testing.T) {
	dir, _ := create(t)
	_, id1, err := Rotate(context.Background(), dir, []byte("pw"), fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Simulate the crash: move the current seed back to pending and put
	// a stale seed in place.
	cur := filepath.Join(dir, SeedFile)
	if err := os.Rename(cur, filepath.Join(dir, pendingSeed)); err != nil {
		t.Fatal(err)
	}
	stale, _ := seal.Seal(identity.Seed{9}, []byte("pw"), fast, nil)
	if err := seal.Save(cur, stale); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Unlock(dir, []byte("pw")); err != nil {
		t.Fatalf("unlock after interrupted rotation: %v", err)
	}
	s, _ := seal.Load(cur)
	if s.DID != id1.DID {
		t.Fatal("pending seed not installed")
	}
	// Pending seed that the events never mention: discarded.
	if err := seal.Save(filepath.Join(dir, pendingSeed), stale); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, pendingSeed)); !os.IsNotExist(err) {
		t.Fatal("orphan pending seed kept")
	}
}

func TestTamperedEventsRejected(t *testing.T) {
	dir, _ := create(t)
	if _, _, err := Rotate(context.Background(), dir, []byte("pw"), fast, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, EventsFile)
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	tests := map[string]string{
		"proof swapped": strings.Replace(string(b), `"rotation_proof_jws":"ey`, `"rotation_proof_jws":"eyX`, 1),
		"soul edited":   strings.Replace(string(b), `scout`, `sc0ut`, 1),
		"genesis gone":  strings.Join(lines[1:], "\n"),
		"not json":      string(b) + "{oops\n",
		"empty":         "",
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(dir); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func FuzzDecodeEvents(f *testing.F) {
	dir := f.TempDir()
	_, _, err := Create(context.Background(), filepath.Join(dir, "a"), []byte("pw"), Options{Name: "f", KDF: fast})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "a", EventsFile))
	f.Add(b)
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"event_id":"x","session_id":"s","branch_id":"b","seq":1,"timestamp":1,"payload":{"type":"Custom","event_type":"anima.identity_rotated","data":{}},"metadata":{},"schema_version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		events, err := DecodeEvents(bytes.NewReader(b))
		if err != nil {
			return
		}
		_, _ = FromEvents("fuzz", events) // must not panic
	})
}

// A crash mid-append leaves a partial last line: it is ignored on read and
// cut off before the next append.
func TestTornTail(t *testing.T) {
	dir, id := create(t)
	path := filepath.Join(dir, EventsFile)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	_, _ = f.WriteString(`{"event_id":"01JD`)
	f.Close()
	back, err := Load(dir)
	if err != nil || len(back.Events) != 1 || back.DID != id.DID {
		t.Fatalf("load with torn tail: %v", err)
	}
	if _, _, err := Rotate(context.Background(), dir, []byte("pw"), fast, nil); err != nil {
		t.Fatal(err)
	}
	after, err := Load(dir)
	if err != nil || len(after.Events) != 3 {
		t.Fatalf("after append: %d events, %v", len(after.Events), err)
	}
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, []byte(`{"event_id":"01JD{`)) || !bytes.HasSuffix(b, []byte("\n")) {
		t.Fatal("torn tail not cut")
	}
}

// RevokeDIDs journals every revocation or none.
func TestRevokeDIDsAllOrNothing(t *testing.T) {
	dir, id := create(t)
	if _, err := RevokeDIDs(dir, []string{id.DID, "did:key:zBad"}, "x", nil); err == nil {
		t.Fatal("a bad DID in the list accepted")
	}
	if _, err := RevokeDIDs(dir, nil, "x", nil); err == nil {
		t.Fatal("an empty list accepted")
	}
	after, err := Load(dir)
	if err != nil || after.Revoked || len(after.Events) != len(id.Events) {
		t.Fatalf("a refused revocation journaled something: %v revoked=%v events=%d", err, after.Revoked, len(after.Events))
	}
	c, _, err := Unlock(dir, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := c.PublicKey(context.Background(), aios.KeyWallet)
	walletDID, _ := did.Encode(pub)
	got, err := RevokeDIDs(dir, []string{id.DID, walletDID}, "lost", nil)
	if err != nil || !got.Revoked || !got.Registry.Status(walletDID).Revoked || len(got.Events) != len(id.Events)+2 {
		t.Fatalf("revoke both: %v", err)
	}
}

// Create leaves an existing directory's mode alone, and refuses one that
// others may write to (it used to chmod it 0700: /tmp would have lost its
// sticky bit and every other user).
func TestCreateInExistingDir(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode os.FileMode
		ok   bool
	}{
		{"private", 0o700, true},
		{"readable by others", 0o755, true},
		{"group-writable", 0o770, false},
		{"shared like /tmp", 0o777 | os.ModeSticky, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := Create(context.Background(), dir, []byte("pw"), Options{Name: "n", KDF: fast})
			if (err == nil) != tt.ok {
				t.Fatalf("ok=%v, got %v", tt.ok, err)
			}
			fi, _ := os.Stat(dir)
			if fi.Mode()&(os.ModePerm|os.ModeSticky) != tt.mode {
				t.Fatalf("mode changed from %v to %v", tt.mode, fi.Mode())
			}
		})
	}
	file := filepath.Join(t.TempDir(), "f")
	_ = os.WriteFile(file, nil, 0o600)
	if _, _, err := Create(context.Background(), file, []byte("pw"), Options{Name: "n", KDF: fast}); err == nil {
		t.Fatal("a file as home accepted")
	}
}

// Rotations, revocation checks and loads running at once (two terminals,
// or arcan beside the anima CLI) are serialized by a lock on the home:
// without it two rotations forked the chain, and a Load between a
// rotation's pending seed and its events deleted the new seed.
func TestConcurrentRotateAndLoad(t *testing.T) {
	dir, _ := create(t)
	const rotations = 4
	var wg sync.WaitGroup
	errs := make(chan error, 2*rotations)
	for range rotations {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, err := Rotate(context.Background(), dir, []byte("pw"), fast, nil)
			errs <- err
		}()
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := Load(dir); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, id, err := Unlock(dir, []byte("pw"))
	if err != nil {
		t.Fatalf("unlock after concurrent rotations: %v", err)
	}
	if len(id.History) != rotations+1 || c.DID() != id.DID {
		t.Fatalf("history %d long, want %d; seed %s, chain %s", len(id.History), rotations+1, c.DID(), id.DID)
	}
}

// A home held locked (say by a stopped process) makes others fail with
// ErrLocked after their wait, not hang.
func TestLockWaitBounded(t *testing.T) {
	dir, _ := create(t)
	unlock, err := lock(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := lock(dir, 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("waited %v", d)
	}
	unlock()
	again, err := lock(dir, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := Load(missing); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("load of a missing home: %v", err)
	}
	if _, _, err := Unlock(missing, []byte("pw")); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("unlock of a missing home: %v", err)
	}
}

// TestCreateCrash stops Create after each durable step, as a crash would,
// and checks the directory is then either a whole identity (Load and Unlock
// work) or none (Load says ErrNoIdentity and a new Create succeeds), never
// a seed without an identity that neither can use.
func TestCreateCrash(t *testing.T) {
	errCrash := errors.New("fake crash")
	tests := []struct {
		name      string
		step      string
		tornEvent bool // the genesis append itself was cut short
		whole     bool // the crashed Create's identity survives
	}{
		{name: "after the seed", step: "seed"},
		{name: "genesis torn", step: "seed", tornEvent: true},
		{name: "after the genesis", step: "events", whole: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "agent")
			o := Options{Name: "crash", KDF: fast, crashAt: func(s string) error {
				if s == tt.step {
					return errCrash
				}
				return nil
			}}
			_, _, err := Create(context.Background(), dir, []byte("pw"), o)
			if !errors.Is(err, errCrash) {
				t.Fatalf("create: %v", err)
			}
			if tt.tornEvent {
				if err := os.WriteFile(filepath.Join(dir, EventsFile), []byte(`{"event_id":"01`), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			id, err := Load(dir)
			if tt.whole {
				if err != nil {
					t.Fatalf("load after crash: %v", err)
				}
				c, _, err := Unlock(dir, []byte("pw"))
				if err != nil || c.DID() != id.DID {
					t.Fatalf("unlock after crash: %v", err)
				}
				if _, _, err := Create(context.Background(), dir, []byte("pw"), Options{Name: "again", KDF: fast}); !errors.Is(err, ErrExists) {
					t.Fatalf("create over a whole identity: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNoIdentity) {
				t.Fatalf("load after crash: %v, want ErrNoIdentity", err)
			}
			c, id, err := Create(context.Background(), dir, []byte("pw"), Options{Name: "again", KDF: fast})
			if err != nil {
				t.Fatalf("create after crash: %v", err)
			}
			if u, _, err := Unlock(dir, []byte("pw")); err != nil || u.DID() != c.DID() || id.Soul.Origin.Name != "again" {
				t.Fatalf("unlock after re-create: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, pendingSeed)); !os.IsNotExist(err) {
				t.Fatalf("pending seed left: %v", err)
			}
		})
	}
}

// TestLoadRemovesCrashedSealTemporaries checks the sealed temporaries a
// crashed seal.WriteFile leaves are removed, and nothing else is.
func TestLoadRemovesCrashedSealTemporaries(t *testing.T) {
	dir, _ := create(t)
	left := []string{".tmp-" + SeedFile + "-123", ".tmp-" + pendingSeed + "-456"}
	keep := ".tmp-notes-1"
	for _, n := range append(left, keep) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("sealed bytes"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	for _, n := range left {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Fatalf("%s kept: %v", n, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
		t.Fatalf("%s removed: %v", keep, err)
	}
	if _, _, err := Unlock(dir, []byte("pw")); err != nil {
		t.Fatal(err)
	}
}
