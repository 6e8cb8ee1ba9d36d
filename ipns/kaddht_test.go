package ipns

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// TestKadDHTRegistration shows how our Validator goes into
// go-libp2p-kad-dht v0.42.2 for the public DHT (see the package doc): the
// plain NamespacedValidator option is refused under the /ipfs prefix, and
// the ProtocolPrefix + V1ProtocolOverride + Validator combination serves
// /ipfs/kad/1.0.0 with our validator deciding what is stored.
func TestKadDHTRegistration(t *testing.T) {
	h, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	// now is two days ahead: a record valid for one hour is expired to us
	// and still valid to boxo's validator (which reads the wall clock).
	now := time.Now().Add(48 * time.Hour)
	ours := Validator{Now: fixedClock(now)}

	for name, opt := range map[string]dht.Option{
		"NamespacedValidator": dht.NamespacedValidator(Namespace, ours),
		"Validator": dht.Validator(record.NamespacedValidator{
			"pk": record.PublicKeyValidator{}, Namespace: ours,
		}),
	} {
		if d, err := dht.New(h, opt); err == nil {
			d.Close()
			t.Errorf("%s under /ipfs: accepted; the package doc's note is out of date", name)
		} else if !strings.Contains(err.Error(), "ipns.Validator") {
			t.Errorf("%s under /ipfs: unexpected error %v", name, err)
		}
	}

	d, err := dht.New(h,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix("/node"),
		dht.V1ProtocolOverride("/ipfs/kad/1.0.0"),
		dht.Validator(record.NamespacedValidator{
			"pk":      record.PublicKeyValidator{},
			Namespace: ours,
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if ps := h.Mux().Protocols(); !slices.Contains(ps, protocol.ID("/ipfs/kad/1.0.0")) {
		t.Errorf("DHT does not serve /ipfs/kad/1.0.0: %v", ps)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sk := newKey(t, crypto.Ed25519)
	key := nameOf(t, sk).RoutingKey()

	soon := mustMarshal(t, mustRecord(t, sk, testPath, 1, time.Now().Add(time.Hour), 0))
	if err := d.PutValue(ctx, key, soon); !errors.Is(err, ErrExpired) {
		t.Errorf("PutValue of a record expired to us: err = %v, want ErrExpired", err)
	}

	// PutValue stores locally, then fails to find peers (there are none).
	later := now.Add(time.Hour)
	seq2 := mustMarshal(t, mustRecord(t, sk, testPath, 2, later, 0))
	seq1 := mustMarshal(t, mustRecord(t, sk, testPath, 1, later.Add(time.Hour), 0))
	if err := d.PutValue(ctx, key, seq2); errors.Is(err, ErrMalformed) || errors.Is(err, ErrExpired) || errors.Is(err, ErrSignature) {
		t.Fatalf("PutValue seq 2: %v", err)
	}
	err = d.PutValue(ctx, key, seq1)
	if err == nil || !strings.Contains(err.Error(), "older value") {
		t.Errorf("PutValue of seq 1 over seq 2: err = %v, want a refusal", err)
	}
}
