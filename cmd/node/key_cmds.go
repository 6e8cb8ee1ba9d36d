package main

import (
	"crypto/rand"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spf13/cobra"

	"node/ipns"
)

// keyCmd manages the named keys that IPNS names are made from.
func (c *cli) keyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage the keys of IPNS names"}

	gen := &cobra.Command{
		Use: "gen NAME", Short: "Make a new Ed25519 key and print its IPNS name", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
				if err != nil {
					return err
				}
				name, err := ipns.NameFromPublicKey(sk.GetPublic())
				if err != nil {
					return err
				}
				if err := s.Repo.Keystore().Put(args[0], sk); err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, name)
				return nil
			})
		},
	}

	list := &cobra.Command{
		Use: "list", Short: "List the keys with their IPNS names", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withRepo(func(s *session) error {
				ks := s.Repo.Keystore()
				names, err := ks.List()
				if err != nil {
					return err
				}
				for _, n := range names {
					name, err := keyName(ks, n)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.stdout, "%s %s\n", name, n)
				}
				return nil
			})
		},
	}

	rm := &cobra.Command{
		Use: "rm NAME...", Short: "Remove keys (their names can no longer be published)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				ks := s.Repo.Keystore()
				for _, n := range args {
					name, err := keyName(ks, n)
					if err != nil {
						return err
					}
					if err := ks.Delete(n); err != nil {
						return err
					}
					fmt.Fprintf(c.stdout, "removed %s %s\n", name, n)
				}
				return nil
			})
		},
	}
	cmd.AddCommand(gen, list, rm)
	return cmd
}

// keyName is the IPNS name of a stored key.
func keyName(ks interface {
	Get(string) (crypto.PrivKey, error)
}, key string) (ipns.Name, error) {
	sk, err := ks.Get(key)
	if err != nil {
		return ipns.Name{}, err
	}
	return ipns.NameFromPublicKey(sk.GetPublic())
}
