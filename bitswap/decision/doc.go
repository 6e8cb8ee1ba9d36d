// Package decision is the Bitswap server's decision engine: it decides which
// peer to serve next and with what. It is a deterministic state machine in
// the manner of etcd raft's core: no network, no goroutines, no clocks and
// no block store inside. The network code around it resolves what the
// engine needs (whether we hold a block and its size), feeds it events with
// the current time, and carries out the tasks it hands back. Given the same
// events, times and Rand function, it makes the same decisions.
//
// # Using it
//
// One goroutine owns an Engine (it is not safe for concurrent use):
//
//	e, err := decision.New(decision.Config{Strategy: "reciprocal"})
//	e.PeerConnected(p, now)
//	e.WantsReceived(p, full, wants, now)   // Have/Size looked up in the store first
//	e.BlocksReceived(p, n, bytes, now)     // p gave us blocks: credit its ledger
//	e.BlockAdded(c, size, now)             // a block we now hold: wake the peers waiting for it
//	for t, ok := e.NextTask(now); ok; t, ok = e.NextTask(now) {
//		// read t.Blocks, send one message with the blocks, t.Haves and t.DontHaves, then:
//		e.TaskDone(t, blocksSent, bytesSent, now)
//	}
//	e.PeerDisconnected(p, now)
//	e.Tick(now)                            // now and then: timed thaws, ledger expiry
//
// Ledger, Ledgers, WantlistOf and Stats report the state for `node stats
// bitswap`, `node bitswap ledger PEER` and `node bitswap wantlist --peer P`.
//
// # Want-lists and tasks
//
// Each peer has a want-list (at most MaxWantsPerPeer entries; new entries
// past it are dropped and counted) and a queue of answers, one per CID,
// ordered by the want's priority and then by arrival. A later want for the
// same CID updates the queued answer in place: want-have then want-block
// becomes one task that sends the block; want-block is never downgraded.
// The answer to a want is:
//   - the block, for a want-block of a block we hold, or for a want-have of
//     a block of at most SmallBlockSize (1 KiB) bytes, which costs about as
//     much as a HAVE and saves a round trip;
//   - HAVE, for a want-have of a larger block we hold;
//   - DONT_HAVE, for a block we lack, only when the peer set SendDontHave;
//   - nothing yet, for a block we lack: the want waits, and BlockAdded
//     queues its answer when the block arrives (matching by multihash, so
//     a CIDv1 want is served by an added CIDv0 block; the task names the
//     CID the peer asked for).
//
// Sending a block or a HAVE fulfils the want: it leaves the want-list. A
// DONT_HAVE leaves the want waiting. A cancel removes the want and its
// queued answer; a full want-list replaces the old one. Disconnecting drops
// a peer's want-list and queue and forgets its outstanding bytes; its
// ledger stays for LedgerRetention (1 hour), so reconnecting does not clear
// a debt.
//
// NextTask hands out one batch for one peer: answers in queue order while
// they fit in TargetMessageSize (1 MiB; one larger block goes alone) and in
// the room left under MaxOutstandingBytesPerPeer (2 MiB). A peer with that
// many bytes handed out and not yet reported by TaskDone waits. Blocks are
// at most 2 MiB, so a batch always fits a 4 MiB Bitswap message.
//
// # Choosing the peer: the ledger, P(r) and frozen partners
//
// Each peer's ledger counts the bytes and blocks sent and received and the
// first and last exchange. Its debt ratio is r = sent / (recv + 1), where
// sent counts only the bytes beyond the free allowance. Peers waiting to be
// served form a ring. NextTask looks at the front peer and serves it with
// probability P(r) = 1 - 1/(1 + exp(6 - 3r)) (about 1 near r = 0, 0.95 at
// r = 1, 0.5 at r = 2, 0.05 at r = 3). If the draw loses, that peer goes to
// the back and the next peer draws. A peer that is served also goes to the
// back, so equal peers take turns. The server never idles while someone
// waits. If every draw loses, the drawn peer with the best P(r) is served;
// when only one peer waits, it is served every time, whatever its debt, so
// a lone downloader from an idle server gets full speed. A call makes at
// most 32 draws, so it costs O(1) in the number of peers plus O(log n) per
// answer in the batch.
//
// Freeze and thaw rule: a peer whose P(r) is under FreezeBelow (0.1, r
// over about 2.73) in FreezeAfterRounds (8) consecutive draws becomes a
// frozen partner. Frozen peers wait in their own ring and are served, in
// turn, only when no other peer is waiting, counting as waiting a peer whose
// answers are held back only until its outstanding bytes are sent: the
// server would rather idle a moment for it than give its slot to a frozen
// peer (or to one that lost its draw). A frozen peer thaws when it
// gives back enough that P(r) reaches ThawAbove (0.5, r at most 2): the gap
// between 0.1 and 0.5 keeps a peer near the line from flapping. It also
// thaws ThawAfter (1 minute) after it was frozen, and then its debt is
// forgiven: the ratio is counted afresh from that moment, with a new free
// allowance. So a peer that could not give (a new node with nothing yet) is
// not shut out for good, and a freeloader gains at most a free allowance
// at full share per minute, plus the capacity nobody else wants.
//
// Why 1 MiB of free allowance: a new peer can fetch a small file, or the
// first four 256 KiB chunks of a large one, at full speed before it has had
// a chance to give anything back, while a fresh identity (cheap to make)
// buys little. Since r is counted in bytes, a peer that gives nothing
// reaches a large r as soon as it passes the allowance, while a peer that
// gives back about as much as it takes stays near r = 1 (P about 0.95).
//
// Strategy Fair ignores the ledger: P = 1 for everyone, nobody is frozen,
// and peers are served in plain round robin. Trusted peers get the same
// treatment under either strategy. The ledger is kept under both.
//
// # Cost
//
// Every event is O(1) or O(log n) per want or peer it touches: maps for
// want-lists and the multihash index, heaps for each peer's queue, the
// thaw queue and the ledger expiry queue, and linked rings for the
// round-robin order. Only the reports (Ledgers, WantlistOf, Stats) walk
// their whole set.
package decision
