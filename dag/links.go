package dag

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"

	"node/dagpb"
)

// ErrUnsupportedCodec is returned for blocks whose codec the node cannot read.
var ErrUnsupportedCodec = errors.New("unsupported codec")

// cidTag is the CBOR tag of a CID in dag-cbor.
const cidTag = 42

var cborDecoder = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  64,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 20,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// Links returns the CIDs a block links to, in the order they appear.
func Links(c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Type() {
	case cid.Raw:
		return nil, nil
	case cid.DagProtobuf:
		n, err := dagpb.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", c, err)
		}
		out := make([]cid.Cid, len(n.Links))
		for i, l := range n.Links {
			out[i] = l.Hash
		}
		return out, nil
	case cid.DagCBOR:
		var v any
		if err := cborDecoder.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("block %s: invalid dag-cbor: %w", c, err)
		}
		var out []cid.Cid
		if err := cborLinks(v, &out); err != nil {
			return nil, fmt.Errorf("block %s: %w", c, err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("block %s: codec 0x%x: %w", c, c.Type(), ErrUnsupportedCodec)
	}
}

func cborLinks(v any, out *[]cid.Cid) error {
	switch x := v.(type) {
	case cbor.Tag:
		if x.Number != cidTag {
			return cborLinks(x.Content, out)
		}
		b, ok := x.Content.([]byte)
		if !ok || len(b) < 1 || b[0] != 0 {
			return errors.New("invalid dag-cbor: tag 42 must hold a byte string starting with 0x00")
		}
		c, err := cid.Cast(b[1:])
		if err != nil {
			return fmt.Errorf("invalid dag-cbor link: %w", err)
		}
		*out = append(*out, c)
	case []any:
		for _, e := range x {
			if err := cborLinks(e, out); err != nil {
				return err
			}
		}
	case map[any]any:
		// dag-cbor maps have string keys ordered by length, then bytes:
		// visit them in that order so the result is deterministic.
		keys := make([]string, 0, len(x))
		for k := range x {
			s, ok := k.(string)
			if !ok {
				return errors.New("invalid dag-cbor: map key is not a string")
			}
			keys = append(keys, s)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if len(a) != len(b) {
				return len(a) - len(b)
			}
			return strings.Compare(a, b)
		})
		for _, k := range keys {
			if err := cborLinks(x[k], out); err != nil {
				return err
			}
		}
	}
	return nil
}
