package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"node/bitswap/decision"
)

func (c *cli) statsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "stats", Short: "Statistics of the running node"}
	bs := &cobra.Command{
		Use: "bitswap", Short: "Blocks and bytes exchanged, and every peer's ledger", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.online(); err != nil {
				return err
			}
			st, err := c.daemon.Bitswap.Server.Stats(cmd.Context())
			if err != nil {
				return err
			}
			ledgers, err := c.daemon.Bitswap.Server.Ledgers(cmd.Context())
			if err != nil {
				return err
			}
			cs := c.daemon.Bitswap.Client.Stats()
			fmt.Fprintf(c.stdout, "bitswap status\n\tblocks sent: %d\n\tbytes sent: %d\n\tblocks received: %d\n\tbytes received: %d\n\tduplicate blocks received: %d\n\tunrequested blocks dropped: %d\n\tinvalid blocks dropped: %d\n\twants: %d\n\tpeers: %d\n\tfrozen partners: %d\n\twants queued from peers: %d\n",
				st.BlocksSent, st.BytesSent, cs.BlocksReceived, cs.BytesReceived, cs.DupBlocks, cs.Unrequested, cs.Invalid, cs.Wants, st.Peers, st.Frozen, st.Wants)
			if len(ledgers) > 0 {
				fmt.Fprintln(c.stdout, "\nledgers:")
				printLedgers(c, ledgers)
			}
			return nil
		},
	}
	cmd.AddCommand(bs)
	return cmd
}

func printLedgers(c *cli, ls []decision.LedgerSnapshot) {
	tw := tabwriter.NewWriter(c.stdout, 1, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "peer\tsent\treceived\tdebt ratio\tP(serve)\tfrozen\ttrusted\twants")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%v\t%v\t%d\n", l.Peer, l.BytesSent, l.BytesReceived, l.DebtRatio, l.ServeProbability, l.Frozen, l.Trusted, l.Wants)
	}
	tw.Flush()
}

func (c *cli) bitswapCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bitswap", Short: "Inspect the block exchange"}
	var peerID string
	wantlist := &cobra.Command{
		Use: "wantlist", Short: "What this node wants, or (--peer) what a peer wants from it", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.online(); err != nil {
				return err
			}
			if peerID == "" {
				for _, w := range c.daemon.Bitswap.Client.Wantlist() {
					fmt.Fprintln(c.stdout, w)
				}
				return nil
			}
			p, err := peer.Decode(peerID)
			if err != nil {
				return fmt.Errorf("--peer %q: %w", peerID, err)
			}
			wants, err := c.daemon.Bitswap.Server.WantlistOf(cmd.Context(), p)
			if err != nil {
				return err
			}
			for _, w := range wants {
				kind := "want-have"
				if w.WantBlock {
					kind = "want-block"
				}
				fmt.Fprintf(c.stdout, "%s %s priority %d\n", w.CID, kind, w.Priority)
			}
			return nil
		},
	}
	wantlist.Flags().StringVarP(&peerID, "peer", "p", "", "show this peer's want-list")
	ledger := &cobra.Command{
		Use: "ledger PEER", Short: "The ledger of exchanges with a peer", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.online(); err != nil {
				return err
			}
			p, err := peer.Decode(args[0])
			if err != nil {
				return fmt.Errorf("%q is not a peer ID: %w", args[0], err)
			}
			l, err := c.daemon.Bitswap.Server.Ledger(cmd.Context(), p)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "peer: %s\nbytes sent: %d\nbytes received: %d\nblocks sent: %d\nblocks received: %d\ndebt ratio: %.4f\nserve probability: %.4f\nfrozen: %v\ntrusted: %v\nconnected: %v\nfirst exchange: %s\nlast exchange: %s\nwants: %d\n",
				l.Peer, l.BytesSent, l.BytesReceived, l.BlocksSent, l.BlocksReceived, l.DebtRatio, l.ServeProbability, l.Frozen, l.Trusted, l.Connected, l.FirstExchange, l.LastExchange, l.Wants)
			return nil
		},
	}
	cmd.AddCommand(wantlist, ledger)
	return cmd
}
