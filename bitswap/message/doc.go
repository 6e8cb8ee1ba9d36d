// Package message is the Bitswap wire format: the messages of protocols
// /ipfs/bitswap/1.2.0, 1.1.0 and 1.0.0 (bare /ipfs/bitswap is 1.0.0),
// their encoding, their strict decoding and their framing on a stream.
// It does no I/O of its own beyond the io.Reader and io.Writer it is given
// and keeps no state between messages.
//
// # Schema (protobuf, proto3)
//
//	Message       { Wantlist wantlist = 1; repeated bytes blocks = 2;
//	                repeated Block payload = 3; repeated BlockPresence blockPresences = 4;
//	                int32 pendingBytes = 5; }
//	Wantlist      { repeated Entry entries = 1; bool full = 2; }
//	Entry         { bytes block = 1; int32 priority = 2; bool cancel = 3;
//	                WantType wantType = 4; bool sendDontHave = 5; }
//	Block         { bytes prefix = 1; bytes data = 2; }
//	BlockPresence { bytes cid = 1; BlockPresenceType type = 2; }
//	enum WantType          { Block = 0; Have = 1; }
//	enum BlockPresenceType { Have = 0; DontHave = 1; }
//
// Entry.block and BlockPresence.cid are binary CIDs. 1.0.0 sends blocks as
// bare bytes in field 2 (their CID is the CIDv0 of their sha2-256) and only
// CIDv0 wants. 1.1.0 sends blocks in field 3 with the CID prefix (the
// varints version, codec, multihash code, digest length, as
// cid.Prefix.Bytes gives them): the receiver hashes the data to get the
// CID. 1.2.0 adds wantType, sendDontHave, blockPresences and pendingBytes.
//
// # Use
//
// Pick the version from the negotiated stream protocol with VersionOf,
// write with WriteMsg (or Message.Marshal), and read with a Reader:
//
//	v, ok := message.VersionOf(stream.Protocol())
//	err := message.WriteMsg(stream, &message.Message{Wantlist: wants}, v)
//	r := message.NewReader(stream)
//	for {
//		m, err := r.ReadMsg() // io.EOF: the peer closed cleanly
//		...
//	}
//
// Marshal adapts a message to older versions (see its comment for what is
// downgraded or left out). Every message is framed by an unsigned varint
// length (minimal, at most 9 bytes) and is at most MaxMessageSize (4 MiB);
// a Reader refuses a larger length before allocating, and grows its buffer
// only as bytes arrive (to at most 64 KiB or four times what arrived).
//
// # Decoding is strict
//
// Unmarshal checks every CID (blockstore.CheckCID), recomputes every
// block's CID from its bytes, bounds blocks (blockstore.MaxBlockSize, 2
// MiB) and counts (MaxEntries, MaxPresences, MaxBlocks: 8192 each), and
// wraps every failure in ErrInvalid, so the caller can close the stream of
// a peer that sent one. Unknown fields are skipped as protobuf requires;
// a known field with the wrong wire type is an error. A received block
// always hashes to its CID; whether it is one the receiver asked for is for
// the client to check.
//
// # Compatibility
//
// The encoding is what boxo's bitswap/message produces for the same
// content: fields in number order, zero values left out, the want-list
// submessage always present. Boxo writes list items in map order, so for
// messages with several entries, blocks or presences the bytes differ by
// order only; the tests check that each side decodes the other's bytes to
// the same content, and byte equality for single items.
package message
