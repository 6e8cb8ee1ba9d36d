// Package dagpb encodes and decodes dag-pb nodes, the block format of
// UnixFS: a protobuf message PBNode{Links=2, Data=1} whose links are
// PBLink{Hash=1, Name=2, Tsize=3}.
//
// Encoding is canonical as the IPLD dag-pb spec requires and as the
// reference IPFS implementation writes it: links first, in the order given
// (callers sort them by name), each with its Name and Tsize fields present,
// then Data if it is non-nil. Decoding is strict: fields out of order,
// repeated, unknown, or with the wrong wire type are errors. A decoded node
// re-encodes to the same meaning, though not always the same bytes (links
// written without Name or Tsize, non-minimal varints); blocks are always
// kept as received, so this never changes a CID.
//
//	n, err := dagpb.Decode(block)
//	for _, l := range n.Links { ... l.Hash, l.Name, l.Tsize ... }
//	raw := dagpb.Encode(n)
package dagpb
