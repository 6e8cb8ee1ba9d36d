// Package car reads and writes CAR files (Content Addressable aRchives,
// the IPLD CARv1 format): a header naming root CIDs followed by blocks, as
// `node dag export` writes and `node dag import` reads.
//
// Format (docs/car.md has the details):
//
//	varint(len(header)) | header            header = dag-cbor {"roots": [CID...], "version": 1}
//	varint(len(CID)+len(data)) | CID | data  one section per block, until the end of input
//
// Writing: NewWriter writes the header, Writer.Put writes one block, and
// Writer.Flush must be called at the end. Export walks a DAG from its roots
// (depth-first, each CID once) and writes it as a CAR.
//
// Reading: NewReader checks the header, Reader.Next returns one block at a
// time, verified against its CID, and io.EOF at the end. A CARv2 file is
// read through the CARv1 payload it wraps. Import reads a whole CAR into a
// store in batches.
//
// Every limit is checked before memory is allocated: headers up to
// MaxHeaderSize, CIDs up to MaxCIDSize, blocks up to
// blockstore.MaxBlockSize. Errors name the section (from 1) and byte
// offset and wrap io.ErrUnexpectedEOF, blockstore.ErrTooLarge,
// blockstore.ErrCorrupt, ErrInvalidHeader, ErrInvalidSection or
// ErrUnsupportedVersion, so callers can tell them apart with errors.Is.
//
// A CAR cut exactly between two sections is indistinguishable from a
// complete CARv1 with fewer blocks, so Import does not pin: the caller
// walks the DAG under the roots and pins only when every block is there.
//
//	roots, n, err := car.Import(ctx, f, store.PutMany)
//	// check the DAG under roots is complete, then pin roots
//
//	err := car.Export(ctx, store.Get, []cid.Cid{root}, w)
package car
