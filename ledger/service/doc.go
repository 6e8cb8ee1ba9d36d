// Package service is the ledger's network service: it keeps the node's
// channels (package ledger) open, runs the orderer of the channels this
// node orders, speaks the ledger protocol with other members, decides who
// may fetch which blocks through Bitswap, and serves the HTTP API.
//
//	m, _ := service.New(service.Options{Root: repo + "/ledger", Identity: id,
//		Local: packs, Blocks: bitswapStore, Pins: pins, Host: h, Routing: dht})
//	m.Start(ctx)                        // open every channel, speak the protocol
//	bitswapServer.SetAccess(m)          // MayFetch: channel blocks to members only
//	provider skips m.Private(c)         // channel blocks are never announced
//	http.Handle(service.APIPrefix, m.Handler())
//	defer m.Close()
//
//	m.Create(ctx, "cars", cfg)          // nil cfg: one organisation, this node has every role
//	m.Join(ctx, "cars", ordererAddr)    // genesis and head from a member, blocks through Bitswap
//	r, _ := m.Invoke(ctx, "cars", service.InvokeRequest{Function: "put", Args: []string{"k", "{}"}})
//	ch, _ := m.Channel(ctx, "cars")     // queries: ch.Get, ch.SQL, ch.Find, ch.Verify, ch.Proof...
//
// # The protocol
//
// ProtocolID (/node/ledger/1.0.0): one request and one answer per stream;
// ProtocolReuse (/node/ledger/1.1.0): any number of requests on one stream,
// in turn. Each request and answer is a frame (unsigned varint length, at
// most MaxFrame, then canonical dag-cbor: Request {op, channel, data},
// Response {status, error, data}). A node offers 1.1.0 first, keeps its
// streams to each peer open for the next request and has at most 64
// requests under way per peer.
//
// The operations and who may use them (roles from the channel's config,
// checked against the stream's authenticated peer ID):
//
//	info      any member     answer: Info {genesis, head, height}
//	endorse   clients        data: tx.SignedProposal; answer: tx.ProposalResponse
//	submit    clients        data: tx.Transaction, to the channel's orderer
//	announce  orderers       data: Info, with the blocks the member lacks
//	                         (Info.Blocks); the member catches up to the head
//
// Anyone else gets StatusDenied naming the role that was missing; a node
// without the channel answers StatusNoChannel.
//
// # Who does what
//
// The channel's orderer is its first member with the orderer role: that node
// runs orderer.Solo (behind orderer.Orderer), commits each block it cuts
// (CommitBuilt: its own header is not re-verified, its transactions are) and
// then announces the head to every other member, one goroutine per member,
// newest head only, with the blocks cut since the last announcement to that
// member when they fit in a frame. Every other member runs a sync loop: on
// an announcement, at start, when the orderer connects and every
// SyncInterval, it asks for the head and catches up (ledger.CatchUp), taking
// the blocks pushed with the announcements (by the CID their bytes hash to)
// and fetching the others through Bitswap by CID. A client's Invoke picks a
// smallest set of organisations satisfying the endorsement policy (its own
// kept when possible), asks one endorser of each (itself first, then
// connected peers), assembles the transaction, submits it and waits for its
// own commit.
//
// # Access and garbage collection
//
// Every block of a channel is registered in memory before it is stored or
// fetched; MayFetch serves registered blocks to the channel's members only,
// and serves no dag-cbor block at all before Start has loaded the
// registry. Private reports them, so the provider never announces them.
// Each channel's head is pinned recursively (the head links the whole
// chain), the pin moved at most every 200 ms with the GC lock held in
// between, so `node repo gc` never removes committed blocks.
//
// Offline (no Host), a channel works when this node alone orders and
// endorses (the one-organisation channel); anything needing another peer
// fails with ErrOffline.
package service
