package message

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
)

// stream writes n messages, each with one block of size bytes (different
// bytes each), as a peer would send them; it returns the blocks' data.
func stream(t *testing.T, n, size int) (*bytes.Buffer, [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	var datas [][]byte
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, size)
		copy(data, fmt.Sprintf("message %d", i))
		c := v1(t, cid.Raw, data, multihash.SHA2_256)
		if err := WriteMsg(&buf, &Message{Blocks: []blockstore.Block{block(c, data)}}, V120); err != nil {
			t.Fatal(err)
		}
		datas = append(datas, data)
	}
	return &buf, datas
}

// A released message's buffer serves a later message; a kept one never
// does, so its blocks stay intact.
func TestReleasedBodiesServeLaterMessages(t *testing.T) {
	const n, size = 40, 300 << 10
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			in, datas := stream(t, n, size)
			r := NewReader(in)
			r.Reserve = func(int) error { return nil } // as the network does
			addrs := map[*byte]bool{}
			var msgs []*Message
			for i := range n {
				m, err := r.ReadMsg()
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Blocks) != 1 || !bytes.Equal(m.Blocks[0].Data, datas[i]) {
					t.Fatalf("message %d read wrong", i)
				}
				addrs[&m.Blocks[0].Data[0]] = true
				if keep {
					m.Keep()
				}
				m.Release()
				m.Release() // a second Release changes nothing
				msgs = append(msgs, m)
			}
			if keep {
				if len(addrs) != n {
					t.Fatalf("%d kept messages share %d buffers", n, len(addrs))
				}
				for i, m := range msgs {
					if !bytes.Equal(m.Blocks[0].Data, datas[i]) {
						t.Fatalf("kept message %d was overwritten", i)
					}
				}
				return
			}
			// sync.Pool drops some buffers (a quarter under -race), so
			// some messages get new ones; most must not.
			if len(addrs) > n/2 {
				t.Fatalf("%d released messages were read into %d buffers: bodies are not reused", n, len(addrs))
			}
		})
	}
}

// Messages read without accounting (no Reserve) are never pooled:
// releasing them leaves them to the garbage collector.
func TestUnreservedBodiesAreNotPooled(t *testing.T) {
	const n = 20
	in, datas := stream(t, n, 100<<10)
	r := NewReader(in)
	var msgs []*Message
	for range n {
		m, err := r.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		m.Release()
		msgs = append(msgs, m)
	}
	for i, m := range msgs {
		if !bytes.Equal(m.Blocks[0].Data, datas[i]) {
			t.Fatalf("message %d was overwritten", i)
		}
	}
}

// Small messages get buffers of their own size even when accounted: a
// pooled buffer would hold far more than they need.
func TestSmallBodiesAreNotPooled(t *testing.T) {
	const n = 20
	in, datas := stream(t, n, 1<<10)
	r := NewReader(in)
	r.Reserve = func(int) error { return nil }
	var msgs []*Message
	for range n {
		m, err := r.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		if c := cap(m.Blocks[0].Data); c > 2<<10 {
			t.Fatalf("a 1 KiB block lies in a buffer of %d bytes", c)
		}
		m.Release()
		msgs = append(msgs, m)
	}
	for i, m := range msgs {
		if !bytes.Equal(m.Blocks[0].Data, datas[i]) {
			t.Fatalf("message %d was overwritten", i)
		}
	}
}
