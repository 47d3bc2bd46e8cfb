// Command anima manages an agent identity in a home directory:
//
//	anima new --home DIR          create an identity; prints its DID and wallet address
//	anima show --home DIR         print the identity (no passphrase needed)
//	anima rotate --home DIR       rotate to fresh keys, journaling signed proofs
//	anima revoke --home DIR       journal the revocation of the auth and wallet DIDs
//	anima issue-token --home DIR  sign an agent JWT
//	anima verify-token TOKEN      verify an agent JWT with the canonical verifier
//	anima document --home DIR     print the DID document and wallet identity
//	anima bench                   sign/verify throughput against the raw library calls
//
// The passphrase comes from ANIMA_PASSPHRASE or, when unset, a terminal prompt.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/chain"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/home"
	"github.com/lifeos/life/anima/internal/bench"
	"github.com/lifeos/life/anima/seal"
	"github.com/lifeos/life/anima/soul"
	"github.com/lifeos/life/anima/token"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root := newRoot(os.Stdin, os.Stdout, os.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "anima:", err)
		os.Exit(1)
	}
}

type kdfFlags struct{ time, memory uint32 }

func (k *kdfFlags) add(cmd *cobra.Command) {
	cmd.Flags().Uint32Var(&k.time, "kdf-time", seal.DefaultParams().Time, "Argon2id passes")
	cmd.Flags().Uint32Var(&k.memory, "kdf-memory", seal.DefaultParams().MemoryKiB, "Argon2id memory in KiB")
}

func (k *kdfFlags) params() seal.Params {
	return seal.Params{Time: k.time, MemoryKiB: k.memory, Threads: seal.DefaultParams().Threads}
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "anima", Short: "Agent identity: keys, DID, tokens, rotation",
		SilenceUsage: true, SilenceErrors: true}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(cmdNew(), cmdShow(), cmdRotate(), cmdRevoke(), cmdIssue(), cmdVerify(), cmdDocument(), cmdBench())
	return root
}

func requireHome(dir string) error {
	if dir == "" {
		return errors.New("--home is required")
	}
	return nil
}

// passphrase reads ANIMA_PASSPHRASE, or prompts on the terminal (twice when
// confirm is set).
func passphrase(cmd *cobra.Command, confirm bool) ([]byte, error) {
	if p, ok := os.LookupEnv("ANIMA_PASSPHRASE"); ok {
		if p == "" {
			return nil, errors.New("ANIMA_PASSPHRASE is set but empty")
		}
		return []byte(p), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errors.New("no passphrase: set ANIMA_PASSPHRASE or run on a terminal")
	}
	defer tty.Close()
	if !term.IsTerminal(int(tty.Fd())) {
		return nil, errors.New("no passphrase: set ANIMA_PASSPHRASE or run on a terminal")
	}
	read := func(prompt string) ([]byte, error) {
		fmt.Fprint(tty, prompt)
		p, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return p, err
	}
	p, err := read("Passphrase: ")
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, seal.ErrEmptyPassphrase
	}
	if confirm {
		again, err := read("Again: ")
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if string(again) != string(p) {
			return nil, errors.New("passphrases do not match")
		}
	}
	return p, nil
}

func cmdNew() *cobra.Command {
	var dir, name, mission, creatorKind, creatorID string
	var caps []string
	var kdf kdfFlags
	c := &cobra.Command{
		Use: "new --home DIR", Short: "Create an identity; print its DID and wallet address", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireHome(dir); err != nil {
				return err
			}
			pass, err := passphrase(cmd, true)
			if err != nil {
				return err
			}
			defer clear(pass)
			_, id, err := home.Create(cmd.Context(), dir, pass, home.Options{
				Name: name, Mission: mission, KDF: kdf.params(),
				Creator: soul.Creator{Kind: soul.CreatorKind(creatorKind), ID: creatorID},
				Values:  soul.Values{CapabilityCeiling: caps},
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "did: %s\nwallet: %s\nsoul_hash: %s\n", id.DID, id.WalletAddress, id.Genesis.SoulHash)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "home", "", "identity directory (created 0700)")
	c.Flags().StringVar(&name, "name", "agent", "the agent's name")
	c.Flags().StringVar(&mission, "mission", "", "the agent's mission")
	c.Flags().StringVar(&creatorKind, "creator-kind", "human", "human, agent or system")
	c.Flags().StringVar(&creatorID, "creator-id", "", "who created the agent")
	c.Flags().StringSliceVar(&caps, "capability", nil, "capability ceiling pattern (repeatable), e.g. chat:*")
	kdf.add(c)
	return c
}

func cmdShow() *cobra.Command {
	var dir string
	var asJSON bool
	c := &cobra.Command{
		Use: "show --home DIR", Short: "Print the identity", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireHome(dir); err != nil {
				return err
			}
			id, err := home.Load(dir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{
					"did": id.DID, "wallet_address": id.WalletAddress, "wallet_did": id.WalletDID,
					"genesis_did": id.GenesisDID, "history": id.History, "revoked": id.Revoked,
					"soul_hash": id.Genesis.SoulHash, "soul": id.Soul,
				})
			}
			fmt.Fprintf(out, "did: %s\nwallet: %s\nname: %s\nsoul_hash: %s\nrotations: %d\nrevoked: %v\n",
				id.DID, id.WalletAddress, id.Soul.Origin.Name, id.Genesis.SoulHash, len(id.History)-1, id.Revoked)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "home", "", "identity directory")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func cmdRotate() *cobra.Command {
	var dir string
	var kdf kdfFlags
	c := &cobra.Command{
		Use: "rotate --home DIR", Short: "Rotate to fresh keys", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireHome(dir); err != nil {
				return err
			}
			pass, err := passphrase(cmd, false)
			if err != nil {
				return err
			}
			defer clear(pass)
			rot, id, err := home.Rotate(cmd.Context(), dir, pass, kdf.params(), nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "old_did: %s\ndid: %s\nwallet: %s\n", rot.OldDID, id.DID, id.WalletAddress)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "home", "", "identity directory")
	kdf.add(c)
	return c
}

func cmdRevoke() *cobra.Command {
	var dir, d, reason string
	c := &cobra.Command{
		Use: "revoke --home DIR [--did DID] --reason TEXT", Short: "Journal a revocation", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireHome(dir); err != nil {
				return err
			}
			if reason == "" {
				return errors.New("--reason is required")
			}
			dids := []string{d}
			if d == "" {
				var err error
				if dids, err = identityDIDs(cmd, dir); err != nil {
					return err
				}
			}
			if _, err := home.RevokeDIDs(dir, dids, reason, nil); err != nil {
				return err
			}
			for _, d := range dids {
				fmt.Fprintf(cmd.OutOrStdout(), "revoked: %s\n", d)
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "home", "", "identity directory")
	c.Flags().StringVar(&d, "did", "", "DID to revoke (default: the current auth and wallet DIDs)")
	c.Flags().StringVar(&reason, "reason", "", "why")
	return c
}

// identityDIDs returns the identity's current auth and wallet DIDs. Both
// must be revoked: a wallet-signed token names only the wallet DID. Before
// the first rotation the journal knows the wallet by its address alone, so
// its DID comes from the unsealed seed.
func identityDIDs(cmd *cobra.Command, dir string) ([]string, error) {
	id, err := home.Load(dir)
	if err != nil {
		return nil, err
	}
	if id.WalletDID != "" {
		return []string{id.DID, id.WalletDID}, nil
	}
	pass, err := passphrase(cmd, false)
	if err != nil {
		return nil, fmt.Errorf("the wallet DID needs the passphrase before the first rotation (or revoke one key with --did %s): %w", id.DID, err)
	}
	defer clear(pass)
	cust, _, err := home.Unlock(dir, pass)
	if err != nil {
		return nil, err
	}
	wallet, err := custody.PurposeDID(cmd.Context(), cust, aios.KeyWallet)
	if err != nil {
		return nil, err
	}
	return []string{id.DID, wallet}, nil
}

func cmdIssue() *cobra.Command {
	var dir, sub, jti string
	var aud []string
	var ttl time.Duration
	var wallet bool
	c := &cobra.Command{
		Use: "issue-token --home DIR --aud AUD", Short: "Sign an agent JWT", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireHome(dir); err != nil {
				return err
			}
			if len(aud) == 0 {
				return errors.New("--aud is required")
			}
			if ttl <= 0 || ttl > token.DefaultMaxTTL {
				return fmt.Errorf("--ttl must be in (0, %v]", token.DefaultMaxTTL)
			}
			pass, err := passphrase(cmd, false)
			if err != nil {
				return err
			}
			defer clear(pass)
			cust, _, err := home.Unlock(dir, pass)
			if err != nil {
				return err
			}
			purpose := aios.KeyAuth
			if wallet {
				purpose = aios.KeyWallet
			}
			t, err := token.Issue(cmd.Context(), cust, purpose,
				token.Request{Subject: sub, Audience: aud, TTL: ttl, ID: jti}, aios.SystemClock{})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "home", "", "identity directory")
	c.Flags().StringSliceVar(&aud, "aud", nil, "audience (repeatable)")
	c.Flags().StringVar(&sub, "sub", "", "subject (default: the DID)")
	c.Flags().StringVar(&jti, "jti", "", "token id (default: random)")
	c.Flags().DurationVar(&ttl, "ttl", 15*time.Minute, "lifetime")
	c.Flags().BoolVar(&wallet, "wallet", false, "sign with the wallet key (ES256K) instead of the auth key (ES256)")
	return c
}

func cmdVerify() *cobra.Command {
	var aud, dir, eventsFile string
	var maxTTL time.Duration
	c := &cobra.Command{
		Use: "verify-token TOKEN", Short: "Verify an agent JWT (TOKEN - reads stdin)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxTTL <= 0 {
				return errors.New("--max-ttl must be positive")
			}
			tok := args[0]
			if tok == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return err
				}
				tok = strings.TrimSpace(string(b))
			}
			var events []aios.EventEnvelope
			if dir != "" {
				id, err := home.Load(dir)
				if err != nil {
					return err
				}
				events = id.Events
			}
			if eventsFile != "" {
				more, err := home.ReadEvents(eventsFile)
				if err != nil {
					return fmt.Errorf("--events: %w", err)
				}
				events = append(events, more...)
			}
			reg, err := chain.Build(events)
			if err != nil {
				return err
			}
			v := token.NewVerifier(token.WithRegistry(reg), token.WithMaxTTL(maxTTL))
			audience := aud
			if audience == "" {
				// Inspection mode: the audience is taken from the token, and
				// said so. Daemons always pass their own audience.
				audience, err = firstAudience(tok)
				if err != nil {
					return fmt.Errorf("%w: %w", aios.ErrUnauthorized, err)
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "anima: no --aud given; the audience was not checked")
			}
			r, err := v.VerifyDetail(cmd.Context(), tok, audience)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"valid": true, "kid": r.Claims.DID, "current_did": r.CurrentDID,
				"hops": r.Hops, "claims": r.Claims})
		},
	}
	c.Flags().StringVar(&aud, "aud", "", "required audience (strongly recommended)")
	c.Flags().StringVar(&dir, "home", "", "read rotations and revocations from this identity")
	c.Flags().StringVar(&eventsFile, "events", "", "read rotations and revocations from a JSON-lines journal export")
	c.Flags().DurationVar(&maxTTL, "max-ttl", token.DefaultMaxTTL, "longest token lifetime accepted")
	return c
}

func cmdBench() *cobra.Command {
	var rounds int
	c := &cobra.Command{
		Use: "bench", Short: "Measure JWS sign/verify against the raw library calls, in the same run", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rounds < 10 || rounds > 1000000 {
				return errors.New("--samples must be in 10..1000000")
			}
			rows, err := bench.Run(rounds)
			if err != nil {
				return err
			}
			bench.Print(cmd.OutOrStdout(), rows)
			return nil
		},
	}
	c.Flags().IntVar(&rounds, "samples", 3000, "alternating anima/baseline operation pairs per case")
	return c
}

func cmdDocument() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use: "document --home DIR", Short: "Print the identity document (DID document, wallet DID and address)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireHome(dir); err != nil {
				return err
			}
			pass, err := passphrase(cmd, false)
			if err != nil {
				return err
			}
			defer clear(pass)
			cust, _, err := home.Unlock(dir, pass)
			if err != nil {
				return err
			}
			doc, err := cust.IdentityDocument(cmd.Context())
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(doc)
		},
	}
	c.Flags().StringVar(&dir, "home", "", "identity directory")
	return c
}
