// Package home keeps one agent identity in a directory: the sealed seed
// (seed.sealed) and the identity's own journal of anima events
// (identity.jsonl: soul genesis, rotations, revocations), every file mode
// 0600 in a 0700 directory. The passphrase is never stored. It is what the
// anima CLI and `arcan identity new` build on.
package home

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/chain"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/identity"
	"github.com/lifeos/life/anima/seal"
	"github.com/lifeos/life/anima/soul"
)

// File names inside a home directory.
const (
	SeedFile    = "seed.sealed"
	EventsFile  = "identity.jsonl"
	pendingSeed = "seed.sealed.new"
)

// Stream names of the identity journal.
const (
	Session = "anima-identity"
	Branch  = "main"
)

// maxHops bounds chain walks over a home's history.
const maxHops = 1024

// ErrExists means the directory already holds an identity.
var ErrExists = errors.New("home: an identity already exists there")

// ErrLocked means another process kept the home locked for longer than an
// operation waits.
var ErrLocked = errors.New("home: locked by another process")

// lockWait bounds the wait for a home's lock; a rotation holds it for one
// Argon2 derivation and a few fsyncs.
const lockWait = 30 * time.Second

// ErrNoIdentity means the directory holds no identity.
var ErrNoIdentity = errors.New("home: no identity")

// Options describe a new identity.
type Options struct {
	Name    string
	Mission string
	Creator soul.Creator
	Values  soul.Values
	Lineage soul.Lineage
	KDF     seal.Params // zero: seal.DefaultParams
	Clock   aios.Clock  // nil: the system clock

	// crashAt, when set (only by tests), is called after each durable step
	// of Create; an error stops Create there, as a crash would.
	crashAt func(step string) error
}

// Identity is the public state of a home: no passphrase needed.
type Identity struct {
	Dir           string
	Soul          *soul.Soul
	Genesis       *aios.SoulGenesis
	GenesisDID    string
	DID           string // current auth DID
	WalletDID     string // current wallet DID; "" until the first rotation names it
	WalletAddress string // current
	History       []string
	Revoked       bool
	Events        []aios.EventEnvelope
	Registry      *chain.Registry
}

// Create makes a new identity in dir (created 0700 if missing; it must not
// already hold one) and returns its custody and public state.
func Create(ctx context.Context, dir string, passphrase []byte, o Options) (*custody.InProcess, *Identity, error) {
	if len(passphrase) == 0 {
		return nil, nil, seal.ErrEmptyPassphrase
	}
	clock := o.Clock
	if clock == nil {
		clock = aios.SystemClock{}
	}
	params := o.KDF
	if params == (seal.Params{}) {
		params = seal.DefaultParams()
	}
	if err := prepareDir(dir); err != nil {
		return nil, nil, err
	}
	unlock, err := lock(dir, lockWait)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	if _, err := os.Lstat(filepath.Join(dir, SeedFile)); err == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrExists, filepath.Join(dir, SeedFile))
	}
	// An events file with no whole event is a Create that crashed before
	// its genesis was durable: nothing was acknowledged, so start over.
	if evs, err := readEvents(filepath.Join(dir, EventsFile)); !errors.Is(err, ErrNoIdentity) && (err != nil || len(evs) > 0) {
		return nil, nil, fmt.Errorf("%w: %s", ErrExists, filepath.Join(dir, EventsFile))
	}
	cust, err := custody.Generate(custody.WithClock(clock))
	if err != nil {
		return nil, nil, err
	}
	creator := o.Creator
	if creator.Kind == "" {
		creator = soul.Creator{Kind: soul.CreatorHuman}
	}
	s := &soul.Soul{
		Origin: soul.Origin{CreatedAt: aios.Micros(clock.Now()), Creator: creator, Name: o.Name,
			Mission: o.Mission, ProtocolVersion: soul.ProtocolVersion},
		Lineage: o.Lineage, Values: o.Values, RootPublicKey: cust.DID(),
	}
	if s.Values.SafetyConstraints == nil {
		s.Values.SafetyConstraints = []soul.Constraint{}
	}
	if s.Values.CapabilityCeiling == nil {
		s.Values.CapabilityCeiling = []string{}
	}
	if s.Lineage.Parents == nil {
		s.Lineage.Parents = []string{}
	}
	g, err := s.Genesis(cust.DID(), cust.WalletAddress())
	if err != nil {
		return nil, nil, err
	}
	sealed, err := cust.Seal(passphrase, params)
	if err != nil {
		return nil, nil, err
	}
	// The seed goes in under the pending name and becomes the seed only once
	// the genesis is durable: a crash in between leaves no seed.sealed
	// without an identity (which would make Create refuse and Load fail for
	// good); the orphan pending seed, never acknowledged, is replaced by the
	// next Create, and one whose genesis landed is installed by load.
	crash := func(string) error { return nil }
	if o.crashAt != nil {
		crash = o.crashAt
	}
	if err := seal.Save(filepath.Join(dir, pendingSeed), sealed); err != nil {
		return nil, nil, err
	}
	if err := crash("seed"); err != nil {
		return nil, nil, err
	}
	if err := appendEvents(dir, clock, nil, g); err != nil {
		return nil, nil, err
	}
	if err := crash("events"); err != nil {
		return nil, nil, err
	}
	if err := installPending(dir); err != nil {
		return nil, nil, err
	}
	id, err := load(dir)
	if err != nil {
		return nil, nil, err
	}
	return cust, id, nil
}

// prepareDir creates dir 0700, or checks an existing one. An existing
// directory is the user's: its mode is left alone (chmod 0700 of, say,
// /tmp would lock every other user out), but one that others may write to
// is refused, since they could replace the identity's files.
func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("home: %w", err)
		}
		// MkdirAll applies the umask; the directory is ours to set.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("home: %w", err)
		}
		// The new directory's entry must survive a power cut too.
		return syncDir(filepath.Dir(filepath.Clean(dir)))
	}
	if err != nil {
		return fmt.Errorf("home: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("home: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("home: %s has mode %v: group or others may write to it; use a private directory", dir, fi.Mode().Perm())
	}
	return nil
}

// Load reads a home's public state (no passphrase), checking its events.
// Every operation on a home holds its lock, so a Load never sees a
// rotation half done.
func Load(dir string) (*Identity, error) {
	unlock, err := lock(dir, lockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return load(dir)
}

func load(dir string) (*Identity, error) {
	if err := finishPending(dir); err != nil {
		return nil, err
	}
	events, err := readEvents(filepath.Join(dir, EventsFile))
	if err != nil {
		return nil, err
	}
	return FromEvents(dir, events)
}

// FromEvents folds an identity journal: the first event must be a valid
// soul genesis; the rest must form a valid chain.
func FromEvents(dir string, events []aios.EventEnvelope) (*Identity, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoIdentity, dir)
	}
	g, ok := events[0].Payload.(*aios.SoulGenesis)
	if !ok {
		return nil, fmt.Errorf("home: first event is %T, want %s", events[0].Payload, aios.EventSoulGenesis)
	}
	s, err := soul.FromGenesis(g)
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	reg, err := chain.Build(events)
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	cur, _, err := reg.Current(g.DID, maxHops)
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	id := &Identity{Dir: dir, Soul: s, Genesis: g, GenesisDID: g.DID, DID: cur, Events: events,
		Registry: reg, History: reg.History(g.DID, maxHops), Revoked: reg.Status(cur).Revoked,
		WalletAddress: g.WalletAddress}
	// The genesis names the wallet by address only; its did:key is the old
	// side of the first wallet rotation, if any.
	for _, e := range events {
		r, ok := e.Payload.(*aios.IdentityRotated)
		if !ok {
			continue
		}
		k, err := did.Resolve(r.OldDID)
		if err == nil && k.Type == did.Secp256k1 && identity.Address(k.Secp256k1) == g.WalletAddress {
			id.WalletDID, _, err = reg.Current(r.OldDID, maxHops)
			if err != nil {
				return nil, fmt.Errorf("home: wallet chain: %w", err)
			}
			wk, _ := did.Resolve(id.WalletDID)
			id.WalletAddress = identity.Address(wk.Secp256k1)
			break
		}
	}
	return id, nil
}

// Unlock opens the sealed seed and returns the custody backend. The seed's
// DID must be the identity's current DID.
func Unlock(dir string, passphrase []byte, opts ...custody.Option) (*custody.InProcess, *Identity, error) {
	unlock, err := lock(dir, lockWait)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	return open(dir, passphrase, opts...)
}

func open(dir string, passphrase []byte, opts ...custody.Option) (*custody.InProcess, *Identity, error) {
	id, err := load(dir)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := seal.Load(filepath.Join(dir, SeedFile))
	if err != nil {
		return nil, nil, err
	}
	if sealed.DID != id.DID {
		return nil, nil, fmt.Errorf("home: sealed seed is for %s but the identity is now %s", sealed.DID, id.DID)
	}
	seed, err := sealed.Open(passphrase)
	if err != nil {
		return nil, nil, err
	}
	c, err := custody.NewInProcess(seed, opts...)
	if err != nil {
		return nil, nil, err
	}
	return c, id, nil
}

// Rotate replaces the identity's keys: the new seed is sealed beside the old
// one, the rotation events are appended durably, then the new seed replaces
// the old. A crash in between is finished by the next Load.
func Rotate(ctx context.Context, dir string, passphrase []byte, params seal.Params, clock aios.Clock) (*custody.Rotation, *Identity, error) {
	if clock == nil {
		clock = aios.SystemClock{}
	}
	if params == (seal.Params{}) {
		params = seal.DefaultParams()
	}
	unlock, err := lock(dir, lockWait)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	cust, id, err := open(dir, passphrase, custody.WithClock(clock))
	if err != nil {
		return nil, nil, err
	}
	if id.Revoked {
		return nil, nil, fmt.Errorf("home: %s is revoked and cannot rotate", id.DID)
	}
	rot, err := cust.Rotate(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Check the events fold before anything touches the disk.
	ps := make([]aios.Payload, len(rot.Events))
	for i, e := range rot.Events {
		ps[i] = e
	}
	if _, err := id.Registry.With(ps...); err != nil {
		return nil, nil, fmt.Errorf("home: rotation does not extend the chain: %w", err)
	}
	sealed, err := cust.Seal(passphrase, params)
	if err != nil {
		return nil, nil, err
	}
	if err := seal.Save(filepath.Join(dir, pendingSeed), sealed); err != nil {
		return nil, nil, err
	}
	if err := appendEvents(dir, clock, id.Events, ps...); err != nil {
		return nil, nil, err
	}
	if err := installPending(dir); err != nil {
		return nil, nil, err
	}
	next, err := load(dir)
	if err != nil {
		return nil, nil, err
	}
	return rot, next, nil
}

// Revoke appends an anima.identity_revoked event for did (any DID; usually
// the identity's own, after a compromise).
func Revoke(dir, d, reason string, clock aios.Clock) (*Identity, error) {
	return RevokeDIDs(dir, []string{d}, reason, clock)
}

// RevokeDIDs appends one anima.identity_revoked event per DID in a single
// durable write. Revoking an identity takes its auth DID and its wallet DID:
// the two keys come from one seed, and a verifier sees only the DID that
// signed a token.
func RevokeDIDs(dir string, dids []string, reason string, clock aios.Clock) (*Identity, error) {
	if clock == nil {
		clock = aios.SystemClock{}
	}
	if len(dids) == 0 {
		return nil, errors.New("home: revoke: no DID")
	}
	unlock, err := lock(dir, lockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	id, err := load(dir)
	if err != nil {
		return nil, err
	}
	now := aios.Micros(clock.Now())
	ps := make([]aios.Payload, len(dids))
	for i, d := range dids {
		ps[i] = &aios.IdentityRevoked{DID: d, Reason: reason, RevokedAt: now}
	}
	if _, err := id.Registry.With(ps...); err != nil {
		return nil, err
	}
	if err := appendEvents(dir, clock, id.Events, ps...); err != nil {
		return nil, err
	}
	return load(dir)
}

// finishPending completes a rotation interrupted after its events were
// written: if the pending seed is the chain's current DID, it becomes the
// seed; otherwise the events never landed and it is discarded.
func finishPending(dir string) error {
	// A seal.WriteFile a crash cut short leaves its sealed temporary; no
	// writer is running (we hold the lock), so none is in flight.
	for _, f := range []string{SeedFile, pendingSeed} {
		left, _ := filepath.Glob(seal.TempPattern(filepath.Join(dir, f)))
		for _, l := range left {
			if err := os.Remove(l); err != nil {
				return fmt.Errorf("home: %w", err)
			}
		}
	}
	pending := filepath.Join(dir, pendingSeed)
	sealed, err := seal.Load(pending)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	events, err := readEvents(filepath.Join(dir, EventsFile))
	if err != nil {
		return err
	}
	id, err := FromEvents(dir, events)
	if err != nil {
		return err
	}
	if sealed.DID == id.DID {
		return installPending(dir)
	}
	if err := os.Remove(pending); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	return syncDir(dir)
}

// installPending renames the pending seed over the seed, durably.
func installPending(dir string) error {
	if err := os.Rename(filepath.Join(dir, pendingSeed), filepath.Join(dir, SeedFile)); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so the entries just renamed, created or
// removed in it survive a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("home: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("home: sync %s: %w", dir, err)
	}
	return nil
}

// MaxEventLine bounds one line of the events file.
const MaxEventLine = 1 << 20

// ReadEvents reads a JSON-lines file of journal envelopes.
func ReadEvents(path string) ([]aios.EventEnvelope, error) { return readEvents(path) }

func readEvents(path string) ([]aios.EventEnvelope, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoIdentity, path)
	}
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	defer f.Close()
	return DecodeEvents(f)
}

// DecodeEvents decodes JSON-lines envelopes; a bad line is an error naming
// it. A last line without its newline that does not decode is a write torn
// by a crash (appends are fsynced before they are acknowledged) and is
// ignored; appendEvents cuts it off before writing.
func DecodeEvents(r io.Reader) ([]aios.EventEnvelope, error) {
	rd := bufio.NewReaderSize(r, 64<<10)
	var out []aios.EventEnvelope
	for n := 1; ; n++ {
		line, err := readLine(rd)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("home: events line %d: %w", n, err)
		}
		complete := err == nil
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var e aios.EventEnvelope
			if jerr := json.Unmarshal(trimmed, &e); jerr != nil {
				if !complete {
					return out, nil // torn tail
				}
				return nil, fmt.Errorf("home: events line %d: %w", n, jerr)
			}
			out = append(out, e)
		}
		if !complete {
			return out, nil
		}
	}
}

// readLine reads one line (without its newline), at most MaxEventLine
// bytes; io.EOF comes with the last, unterminated, line.
func readLine(rd *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := rd.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxEventLine {
			return nil, fmt.Errorf("line longer than %d bytes", MaxEventLine)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return line, err
		}
	}
}

// cutTornTail truncates a file to its last newline.
func cutTornTail(f *os.File) error {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	size := fi.Size()
	buf := make([]byte, 1)
	if _, err := f.ReadAt(buf, size-1); err != nil {
		return err
	}
	if buf[0] == '\n' {
		return nil
	}
	// Scan back for the last newline; identity journals are small.
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	return f.Truncate(int64(bytes.LastIndexByte(b, '\n') + 1))
}

// appendEvents writes payloads as envelopes after prev, durably (fsync).
func appendEvents(dir string, clock aios.Clock, prev []aios.EventEnvelope, payloads ...aios.Payload) error {
	ids := aios.NewULIDGenerator(clock, rand.Reader)
	seq := uint64(len(prev))
	if n := len(prev); n > 0 {
		seq = prev[n-1].Seq
	}
	var buf bytes.Buffer
	for _, p := range payloads {
		seq++
		e := aios.NewEnvelope(ids, clock, Session, Branch, p)
		e.Seq = seq
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("home: encode event: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	path := filepath.Join(dir, EventsFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("home: %w", err)
	}
	if err := cutTornTail(f); err != nil {
		f.Close()
		return fmt.Errorf("home: repair %s: %w", path, err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("home: append events: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("home: sync events: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("home: close events: %w", err)
	}
	// The first append creates the file; its entry must be durable too.
	return syncDir(dir)
}
