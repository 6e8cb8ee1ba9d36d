// Package ipns makes, parses and validates IPNS records: signed, expiring
// pointers from a name (the hash of a public key) to a content path. It
// is our own implementation of the public IPNS record format, so records
// it writes are read by other IPFS implementations and the other way
// round; docs/ipns.md describes the format and the rules.
//
// A record is an IpnsEntry protobuf whose field 9 (data) is a dag-cbor map
// {Value, Validity, ValidityType, Sequence, TTL} signed as
// "ipns-signature:" || data (signatureV2). NewRecord also writes the
// legacy V1 fields and signatureV1, which Unmarshal requires to agree with
// the data and Validate ignores. Records over 10 KiB are refused unread.
//
// Making and checking a record:
//
//	rec, err := ipns.NewRecord(sk, "/ipfs/"+c.String(), seq, time.Now().Add(ipns.DefaultLifetime), ipns.DefaultTTL)
//	b, err := rec.Marshal()                  // put b under name.RoutingKey()
//	name, err := ipns.NameFromPublicKey(sk.GetPublic())
//
//	got, err := ipns.Unmarshal(b)              // structure only
//	err = ipns.Validate(name, got, time.Now()) // key, signature, expiry
//
// Names print as "k51..." (CIDv1, libp2p-key codec, base36); ParseName
// also reads the base32 "bafz..." form and legacy peer IDs ("12D3Koo...",
// "Qm..."). The DHT key is "/ipns/" + the binary multihash
// (Name.RoutingKey).
//
// # The DHT validator
//
// Validator implements the Validator interface of go-libp2p-record for
// the "ipns" namespace: Validate unmarshals and validates a record against
// the key's name at Validator.Now (time.Now when nil); Select returns the
// valid record with the highest sequence, then the latest validity, then
// the first, and fails when none is valid.
//
// Registering it with go-libp2p-kad-dht v0.42.2 takes care. With the
// default "/ipfs" protocol prefix, dht.New accepts exactly the "pk" and
// "ipns" namespaces and, by a type assertion in its config check, only
// boxo's own ipns.Validator for "ipns": the usual
//
//	dht.New(h, dht.NamespacedValidator("ipns", ipns.Validator{}))
//
// fails with "protocol prefix /ipfs must use ipns.Validator for the /ipns
// namespace". That check runs only when the prefix is "/ipfs", and the
// prefix only builds the protocol ID, which V1ProtocolOverride replaces.
// So this joins the public DHT, speaking /ipfs/kad/1.0.0 on the wire,
// with our validator (TestKadDHTRegistration checks both the refusal and
// this):
//
//	d, err := dht.New(h,
//		dht.ProtocolPrefix("/node"),                // skips the boxo-only check...
//		dht.V1ProtocolOverride("/ipfs/kad/1.0.0"), // ...the wire protocol stays the public one
//		dht.Validator(record.NamespacedValidator{
//			"pk":   record.PublicKeyValidator{},
//			"ipns": ipns.Validator{},
//		}),
//	)
//
// The other settings that check enforces (bucket size 20, providers and
// values enabled) are kad-dht's defaults: leave them alone.
package ipns
