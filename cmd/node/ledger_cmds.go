package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"node/daemon"
	"node/ledger"
	"node/ledger/block"
	"node/ledger/config"
	"node/ledger/service"
	"node/ledger/validate"
)

// ledgerCmd is `node ledger ...`: permissioned ledger channels (see
// docs/ledger.md).
func (c *cli) ledgerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Permissioned ledger channels",
		Long: `Channels shared by a consortium of organisations, in the Hyperledger Fabric
mould: execute (endorsers simulate and sign), order (the channel's orderer cuts
blocks), validate (every member checks and applies each block). Blocks are
content-addressed and travel through Bitswap, to the channel's members only.

Try it on one node:
  node ledger channel create demo
  node ledger invoke demo put car1 '{"owner": "Ann", "model": "coupe"}'
  node ledger get demo car1
  node ledger sql demo "SELECT key, json_extract(valueJson, '$.owner') FROM <STATE>"

Commands that change a channel shared with other nodes need the daemon
(node daemon); queries, verify and a one-organisation channel work without it.
See docs/ledger.md for channel.json, the roles and the HTTP API.`,
	}
	cmd.AddCommand(c.ledgerChannelCmd(), c.ledgerInvokeCmd(), c.ledgerGetCmd(), c.ledgerHistoryCmd(),
		c.ledgerSQLCmd(), c.ledgerFindCmd(), c.ledgerIndexCmd(), c.ledgerBlockCmd(), c.ledgerDigestCmd(),
		c.ledgerVerifyCmd(), c.ledgerProofCmd(), c.ledgerVerifyProofCmd(), c.ledgerEventsCmd())
	return cmd
}

// withChannel runs fn on the channel called name.
func (c *cli) withChannel(ctx context.Context, name string, fn func(ch *ledger.Channel) error) error {
	return c.withLedger(func(m *service.Manager) error {
		ch, err := m.Channel(ctx, name)
		if err != nil {
			return err
		}
		return fn(ch)
	})
}

// withLedger runs fn with the daemon's ledger service, or without a
// daemon with one opened on the repository for this command (offline).
func (c *cli) withLedger(fn func(m *service.Manager) error) error {
	if c.daemon != nil {
		m := c.daemon.Ledger()
		if m == nil {
			return errors.New("the daemon's ledger service is not running")
		}
		return fn(m)
	}
	return c.withRepo(func(s *session) (err error) {
		log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		opts, err := daemon.LedgerOptions(s.Node, log)
		if err != nil {
			return err
		}
		m, err := service.New(opts)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, m.Close()) }()
		return fn(m)
	})
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) ledgerChannelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "channel", Short: "Create, join and list channels"}

	var cfgFile string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a channel (without --config: one organisation, this node has every role)",
		Long: `Create a channel and sign its genesis block. Without --config the channel has
one organisation in which this node orders, endorses, commits and is a client,
with the policy OR('Org1'). With --config channel.json (see docs/ledger.md) this
node must be an admin or an orderer of the channel; the other members then run
'node ledger channel join NAME --orderer <this node's address>'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg *config.Config
			if cfgFile != "" {
				var err error
				if cfg, err = config.Load(c.abs(cfgFile), args[0]); err != nil {
					return err
				}
			}
			return c.withLedger(func(m *service.Manager) error {
				info, err := m.Create(cmd.Context(), args[0], cfg)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "created channel %s\ngenesis %s\n", info.Name, info.Genesis)
				if info.Ordering {
					fmt.Fprintln(c.stdout, "this node orders the channel")
				} else {
					fmt.Fprintf(c.stdout, "orderer %s\n", info.Orderer)
				}
				return nil
			})
		},
	}
	create.Flags().StringVar(&cfgFile, "config", "", "channel configuration file (JSON, see docs/ledger.md)")

	var ordererAddr string
	var joinTimeout time.Duration
	join := &cobra.Command{
		Use:   "join NAME --orderer MULTIADDR",
		Short: "Join a channel another member keeps: fetch its blocks through Bitswap",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ordererAddr == "" {
				return errors.New("give the orderer's address with --orderer /ip4/.../tcp/.../p2p/12D3KooW...")
			}
			if err := c.online(); err != nil {
				return err
			}
			ai, err := service.ParsePeerAddr(ordererAddr)
			if err != nil {
				return err
			}
			ctx, cancel := contextWithTimeout(cmd, joinTimeout)
			defer cancel()
			return c.withLedger(func(m *service.Manager) error {
				info, err := m.Join(ctx, args[0], ai)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "joined channel %s at height %d\nhead %s\n", info.Name, info.Height, info.Head)
				return nil
			})
		},
	}
	join.Flags().StringVar(&ordererAddr, "orderer", "", "address of the channel's orderer (or another member), ending in /p2p/<peer ID>")
	join.Flags().DurationVar(&joinTimeout, "timeout", 2*time.Minute, "give up after this long")

	list := &cobra.Command{
		Use: "list", Short: "List the channels this node keeps", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withLedger(func(m *service.Manager) error {
				l, err := m.List(cmd.Context())
				if err != nil {
					return err
				}
				for _, i := range l {
					fmt.Fprintf(c.stdout, "%s\theight %d\thead %s\n", i.Name, i.Height, i.Head)
				}
				return nil
			})
		},
	}
	info := &cobra.Command{
		Use: "info NAME", Short: "Describe a channel: members, roles, policy, height, head, state hash", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withLedger(func(m *service.Manager) error {
				i, err := m.Info(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return c.printJSON(i)
			})
		},
	}
	cmd.AddCommand(create, join, list, info)
	return cmd
}

func (c *cli) ledgerInvokeCmd() *cobra.Command {
	var cc string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "invoke [flags] NAME FUNCTION ARGS...",
		Short: "Run a transaction and wait for its commit: prints txid, block, validation code",
		Long: `Sign a proposal, have it endorsed by endorsers that satisfy the channel's
policy, submit it to the orderer and wait until this node commits it. Prints the
transaction ID, its block and validation code; exits non-zero unless VALID.
Flags go before NAME (what follows is passed to the chaincode as is).

The docs chaincode: put KEY JSON, get KEY, delete KEY, patch KEY JSON,
transfer KEY NEWOWNER, recall SELECTOR.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			return c.withLedger(func(m *service.Manager) error {
				r, err := m.Invoke(ctx, args[0], service.InvokeRequest{Chaincode: cc, Function: args[1], Args: args[2:]})
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "txid %s\nblock %d\ncode %s\n", r.TxID, r.Block, r.Code)
				if len(r.Result) > 0 {
					fmt.Fprintf(c.stdout, "result %s\n", r.Result)
				}
				if r.Code != validate.Valid {
					why := ""
					if r.Reason != "" {
						why = ": " + r.Reason
					}
					return fmt.Errorf("transaction %s was committed as %s and not applied%s", r.TxID, r.Code, why)
				}
				return nil
			})
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&cc, "chaincode", config.DocsChaincode, "chaincode to call")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up waiting for the commit after this long")
	return cmd
}

func (c *cli) ledgerGetCmd() *cobra.Command {
	var cc string
	cmd := &cobra.Command{
		Use: "get NAME KEY", Short: "Print a key's current value", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				v, _, err := ch.Get(cmd.Context(), cc, args[1])
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.stdout, "%s\n", v)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&cc, "chaincode", config.DocsChaincode, "chaincode whose state to read")
	return cmd
}

func (c *cli) ledgerHistoryCmd() *cobra.Command {
	var cc string
	cmd := &cobra.Command{
		Use: "history NAME KEY", Short: "List a key's writes, oldest first (JSON lines)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				h, err := ch.History(cmd.Context(), cc, args[1])
				if err != nil {
					return err
				}
				enc := json.NewEncoder(c.stdout)
				enc.SetEscapeHTML(false)
				for _, e := range h {
					if err := enc.Encode(e); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cc, "chaincode", config.DocsChaincode, "chaincode whose state to read")
	return cmd
}

func (c *cli) ledgerSQLCmd() *cobra.Command {
	var cc string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sql NAME \"SELECT ... FROM <STATE> ...\"",
		Short: "Run a read-only SQL query over the state (tab-separated, header first)",
		Long: `Run one SELECT over the chaincode's state table, named <STATE> (any case):
columns key, value, valueJson (JSON documents), blockNum, txNum; JSON1 functions
such as json_extract and json_each work. Anything but a single SELECT is refused.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				r, err := ch.SQL(cmd.Context(), cc, args[1])
				if err != nil {
					return err
				}
				if asJSON {
					return c.printJSON(service.ViewSQL(r))
				}
				fmt.Fprintln(c.stdout, strings.Join(r.Columns, "\t"))
				for _, row := range r.Rows {
					cells := make([]string, len(row))
					for i, x := range row {
						cells[i] = service.Cell(x)
					}
					fmt.Fprintln(c.stdout, strings.Join(cells, "\t"))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cc, "chaincode", config.DocsChaincode, "chaincode whose state to query")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {columns, rows} as JSON")
	return cmd
}

func (c *cli) ledgerFindCmd() *cobra.Command {
	var cc string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "find NAME '{\"selector\": {...}, \"fields\": [...], \"sort\": [...], \"limit\": N, \"bookmark\": \"...\"}'",
		Short: "Run a CouchDB selector query: one matching document per line",
		Long: `Run a CouchDB (Mango) selector query over the JSON documents of the state and
print each match, projected to the query's fields, one per line. When more
pages remain, the bookmark for the next is printed on stderr. --json prints
{docs: [{key, value, version}], bookmark}.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				r, err := ch.Find(cmd.Context(), cc, args[1])
				if err != nil {
					return err
				}
				if asJSON {
					return c.printJSON(service.FindResponse{Docs: service.ViewDocs(r.Docs), Bookmark: r.Bookmark})
				}
				for _, d := range r.Docs {
					fmt.Fprintf(c.stdout, "%s\n", d.Value)
				}
				if r.Bookmark != "" {
					fmt.Fprintf(c.stderr, "bookmark: %s\n", r.Bookmark)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cc, "chaincode", config.DocsChaincode, "chaincode whose state to query")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the documents with keys and versions, and the bookmark, as JSON")
	return cmd
}

func (c *cli) ledgerIndexCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "index", Short: "Custom indexes of the state (local to this node)"}
	var cc string
	add := &cobra.Command{
		Use:   "add NAME FILE.json",
		Short: "Create an index from {\"name\": ..., \"indexExpressions\": [...]}",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(c.abs(args[1]))
			if err != nil {
				return fmt.Errorf("reading the index file: %w", err)
			}
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				ix, err := ch.AddIndex(cmd.Context(), cc, b)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "index %s on %s: %s\n", ix.Name, ix.Chaincode, strings.Join(ix.Expressions, ", "))
				return nil
			})
		},
	}
	add.Flags().StringVar(&cc, "chaincode", config.DocsChaincode, "chaincode whose state to index")
	list := &cobra.Command{
		Use: "list NAME", Short: "List the custom indexes", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				ixs, err := ch.Indexes(cmd.Context())
				if err != nil {
					return err
				}
				for _, ix := range ixs {
					fmt.Fprintf(c.stdout, "%s\t%s\t%s\n", ix.Chaincode, ix.Name, strings.Join(ix.Expressions, ", "))
				}
				return nil
			})
		},
	}
	cmd.AddCommand(add, list)
	return cmd
}

func (c *cli) ledgerBlockCmd() *cobra.Command {
	return &cobra.Command{
		Use: "block NAME N|head", Short: "Show a committed block (JSON) with its transactions' codes", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				sb, err := service.BlockAt(cmd.Context(), ch, args[1])
				if err != nil {
					return err
				}
				return c.printJSON(service.ViewBlock(cmd.Context(), ch, sb))
			})
		},
	}
}

func (c *cli) ledgerDigestCmd() *cobra.Command {
	return &cobra.Command{
		Use: "digest NAME", Short: "Print the channel's height and head CID (the digest of all its history)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				h, head, err := ch.Digest(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "height %d\nhead %s\n", h, head)
				return nil
			})
		},
	}
}

func (c *cli) ledgerVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify NAME",
		Short: "Re-hash the chain from genesis and name the first bad block",
		Long: `Re-read every block of the channel from this node's store: each must hash to
its CID, link the previous block, carry a valid orderer signature and have a
body matching its Merkle root. Exits non-zero naming the first bad block.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				rep, err := ch.Verify(cmd.Context())
				if err != nil {
					return err
				}
				if !rep.OK {
					return fmt.Errorf("channel %s: block %d is bad: %s", args[0], *rep.FirstBad, rep.Problem)
				}
				fmt.Fprintf(c.stdout, "channel %s: all %d blocks verified, head %s\n", args[0], rep.Height, rep.Head)
				return nil
			})
		},
	}
}

func (c *cli) ledgerProofCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "proof NAME TXID",
		Short: "Print a transaction's inclusion proof (JSON) up to the current head",
		Long: `Print the proof that transaction TXID is in the channel's ledger: the
transaction, its Merkle audit path and the block headers from its block to the
head. Check it anywhere, offline, with 'node ledger verify-proof FILE DIGEST',
where DIGEST is the head CID ('node ledger digest NAME') the verifier trusts.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				p, err := ch.Proof(cmd.Context(), args[1])
				if err != nil {
					return err
				}
				return c.printJSON(p)
			})
		},
	}
}

func (c *cli) ledgerVerifyProofCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify-proof PROOF.json DIGEST",
		Short: "Check a proof offline against a head CID you trust (no repository needed)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = c.stdin
			if args[0] != "-" {
				f, err := os.Open(c.abs(args[0]))
				if err != nil {
					return fmt.Errorf("reading the proof: %w", err)
				}
				defer f.Close()
				in = f
			}
			var p block.Proof
			dec := json.NewDecoder(io.LimitReader(in, 64<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				return fmt.Errorf("%w: the proof file is not a proof (JSON from `node ledger proof`): %w", block.ErrBadProof, err)
			}
			r, err := service.VerifyProof(&p, args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "proof holds: transaction %s is transaction %d of block %d of channel %s, in the chain ending at %s (height %d)\n",
				r.TxID, r.Index, r.Block, r.Channel, r.Head, r.Height)
			return nil
		},
	}
}

func (c *cli) ledgerEventsCmd() *cobra.Command {
	return &cobra.Command{
		Use: "events NAME", Short: "Stream commit events (JSON lines) until Ctrl-C", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.daemon == nil {
				return errors.New("events come from the daemon: start `node daemon` first")
			}
			return c.withChannel(cmd.Context(), args[0], func(ch *ledger.Channel) error {
				events, cancel := ch.Subscribe(1024)
				defer cancel()
				fmt.Fprintf(c.stderr, "watching channel %s for commits (Ctrl-C to stop)\n", args[0])
				enc := json.NewEncoder(c.stdout)
				enc.SetEscapeHTML(false)
				for {
					select {
					case ev, ok := <-events:
						if !ok {
							return errors.New("the event stream fell behind or the channel closed: run the command again")
						}
						if err := enc.Encode(service.ViewEvent(ev)); err != nil {
							return err
						}
					case <-cmd.Context().Done():
						return nil
					}
				}
			})
		},
	}
}
