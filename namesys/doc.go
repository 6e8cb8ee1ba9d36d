// Package namesys is the node's name system: it publishes IPNS records
// for the node's keys and resolves names (IPNS names and DNSLink domains)
// to content paths. Records themselves (format, signatures, validation)
// are package ipns; this package decides where they come from and go to.
//
// Build one per node, with the DHT (nil for an offline node), the
// repository's datastore and keystore:
//
//	ns, err := namesys.New(namesys.Config{
//		Routing: d,                   // *kaddht.IpfsDHT from package dht, or nil
//		Store:   r.Datastore(),
//		Keys:    r.Keystore(),
//		CacheSize: cfg.Ipns.ResolveCacheSize,
//		Lifetime:  lifetime, RepublishPeriod: period, // parsed from cfg.Ipns
//		DNSResolver: cfg.DNS.Resolver,
//	})
//	defer ns.Close()
//	go ns.Republish(ctx)                                    // keeps own names alive
//	name, rec, err := ns.Publish(ctx, "self", "/ipfs/"+c.String(), namesys.PublishOptions{})
//	res, err := ns.Resolve(ctx, name.String(), namesys.ResolveOptions{})   // res.Path "/ipfs/..."
//	p, ttl, err := ns.ResolvePath(ctx, "/ipns/example.org/a/b")          // "/ipfs/CID/a/b"
//	raw, err := ns.Record(ctx, name.String())               // ?format=ipns-record
//
// Publishing signs a record with the next sequence number (above both the
// local record, kept in the store across restarts, and any record in the
// DHT), stores it under /ipns/records/<name>, notes the key in the index
// /ipns/published for the republisher, and puts it into the DHT.
//
// Resolving a name takes one step per name: the cache (an LRU whose
// entries live no longer than the record's TTL and never past its
// validity), then the local store (names this node publishes), then the
// DHT with a quorum, keeping the valid record with the highest sequence
// and then the latest validity. A step that goes past the cache refreshes
// it. A domain resolves through the TXT record at _dnslink.<domain>
// ("dnslink=/ipfs/..." or "dnslink=/ipns/..."), asked of Config.DNSResolver
// or the servers in /etc/resolv.conf. A value that is another /ipns path
// is followed up to MaxDepth names; cycles fail with ErrCycle.
//
// Errors wrap ipns.ErrNotFound (nothing found: show it as 404),
// ipns.ErrInvalidName, ipath.ErrInvalid, this package's sentinels, or the
// context's error. docs/ipns.md, "Publishing and resolving", has the
// details.
package namesys
