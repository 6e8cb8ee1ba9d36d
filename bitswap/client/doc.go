// Package client is the Bitswap client: it fetches blocks from peers,
// verifies them against the CIDs asked for, stores them and hands them to
// the callers waiting.
//
// # Use
//
//	c := client.New(net, store, dht, client.Options{}) // net: *network.Network; dht may be nil
//	// The owner of the network's Receiver passes ReceiveMessage,
//	// ReceiveError, PeerConnected and PeerDisconnected on to c.
//	data, err := c.GetBlock(ctx, cid)     // a one-block session
//	s := c.NewSession(ctx)                // one per DAG being read; ends with ctx
//	data, err = s.GetBlock(ctx, cid)      // many at once: they share round trips
//	for b := range s.GetBlocks(ctx, cids) { ... } // in any order
//	c.Wantlist(); c.Stats()
//	c.Close()
//
// # How blocks are found
//
// Wants are kept per multihash (peers on 1.0.0 name everything by CIDv0),
// with a count of interest per session: callers wanting the same block
// share one want, and a caller whose context ends withdraws only its own
// interest. A want nobody is interested in any more is cancelled at every
// peer that was asked.
//
// For each want the client sends one want-block to the peer most likely to
// have the block: one that said HAVE (or that the routing named a
// provider), else one that already sent blocks or HAVEs to the session,
// else any connected peer; ties go to the peer with the fewest want-blocks
// outstanding, so a session's wants spread over the peers that serve it.
// The session's other peers get a want-have, or, while the session has no
// useful peer yet (or its search was widened), every connected peer does.
// Entries ask for DONT_HAVE answers. Peers on 1.0.0 and 1.1.0 understand
// only want-block: they are sent want-blocks, only when they are the
// target or the want is broadcast.
//
// A HAVE from a peer gets it a want-block unless a peer that said HAVE is
// already serving the want. A DONT_HAVE, a want-block left unanswered for
// WantTimeout while the peer sent nothing else, a failed send, or a
// disconnection moves the want-block to the next peer. When no peer is
// left to ask, and whenever a session has received no block for
// SearchDelay (doubling up to MaxSearchDelay), the session widens its
// search: it forgets old DONT_HAVEs and timeouts, re-asks every connected
// peer, and asks the routing for providers, which are connected to, join
// the session and get the want-block first. A session with no connected
// peer at all asks the routing at once.
//
// When a block arrives it is hashed against its CID (blockstore.VerifyBlock,
// on the receiving goroutine), matched to a want by multihash, its want is
// cancelled at every other peer asked, it is stored (Store.PutMany) and
// then handed to the callers under the CID each asked by. Blocks nobody
// wanted are dropped and counted against the sender (Stats.Peers), as
// duplicates when the block was wanted lately.
//
// Every want of a GetBlocks call, and of concurrent GetBlock calls, goes
// out at once: the want-list changes for a peer gather while the previous
// message to it is being sent, so a reader prefetching 16 blocks costs one
// round trip, not 16.
//
// # Structure
//
// The decisions are made by a deterministic core (core.go): a state
// machine fed events (wants, cancels, blocks, presences, connections,
// provider records, ticks) with the current time, returning want-list
// entries to send and provider searches to run; its tests need no network
// and no clock. One goroutine owns the core and the sessions' callers; the
// network goroutines, callers' contexts, senders (one per peer with
// something to send) and provider searches hand it events.
package client
