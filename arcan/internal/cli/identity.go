package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/home"
	"github.com/lifeos/life/anima/seal"
	"github.com/lifeos/life/anima/token"
)

func identityCmd(io IO) *cobra.Command {
	var h string
	c := &cobra.Command{Use: "identity", Short: "The agent's identity (anima): new, show, rotate, token"}
	c.PersistentFlags().StringVar(&h, "home", "", "data directory (default $ARCAN_HOME or ~/.arcan); the identity lives in its identity/ folder")
	dir := func() string { return identityDir(homeOr(h)) }
	// The passphrase comes from ARCAN_PASSPHRASE, else the first line of stdin.
	pass := func() ([]byte, error) {
		if p := os.Getenv("ARCAN_PASSPHRASE"); p != "" {
			return []byte(p), nil
		}
		line, err := bufio.NewReader(io.In).ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return nil, fmt.Errorf("no passphrase: set ARCAN_PASSPHRASE or pipe it on stdin (%v)", err)
		}
		return []byte(line), nil
	}
	// A missing identity says how to make one.
	hint := func(err error) error {
		if errors.Is(err, home.ErrNoIdentity) {
			return fmt.Errorf("%w (create one with arcan identity new)", err)
		}
		return err
	}
	var name string
	newC := &cobra.Command{Use: "new", Short: "Create the identity; print its DID and wallet address", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := pass()
			if err != nil {
				return err
			}
			_, id, err := home.Create(background(c), dir(), p, home.Options{Name: name})
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "did: %s\nwallet: %s\n", id.DID, id.WalletAddress)
			return nil
		}}
	newC.Flags().StringVar(&name, "name", "agent", "the agent's name")
	show := &cobra.Command{Use: "show", Short: "Print the identity (no passphrase needed)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			id, err := home.Load(dir())
			if err != nil {
				return hint(err)
			}
			fmt.Fprintf(io.Out, "did: %s\nwallet: %s\ngenesis: %s\nrotations: %d\nrevoked: %t\n", id.DID, id.WalletAddress, id.GenesisDID, len(id.History), id.Revoked)
			return nil
		}}
	rotate := &cobra.Command{Use: "rotate", Short: "Rotate the keys; print the new DID", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := pass()
			if err != nil {
				return err
			}
			r, id, err := home.Rotate(background(c), dir(), p, seal.Params{}, aios.SystemClock{})
			if err != nil {
				return hint(err)
			}
			fmt.Fprintf(io.Out, "rotated: %s -> %s\nwallet: %s\n", r.OldDID, r.NewDID, id.WalletAddress)
			return nil
		}}
	var aud string
	var ttl time.Duration
	tok := &cobra.Command{Use: "token", Short: "Print an agent JWT for arcand --auth", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if aud == "" {
				return errors.New("--aud is required")
			}
			p, err := pass()
			if err != nil {
				return err
			}
			cust, _, err := home.Unlock(dir(), p)
			if err != nil {
				return hint(err)
			}
			t, err := token.Issue(background(c), cust, aios.KeyAuth, token.Request{Audience: []string{aud}, TTL: ttl}, aios.SystemClock{})
			if err != nil {
				return err
			}
			fmt.Fprintln(io.Out, t)
			return nil
		}}
	tok.Flags().StringVar(&aud, "aud", "arcand", "audience")
	tok.Flags().DurationVar(&ttl, "ttl", 10*time.Minute, "lifetime")
	c.AddCommand(newC, show, rotate, tok)
	return c
}
