package dht

import (
	"context"
	"fmt"

	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// PublicProtocol is the protocol of the public IPFS DHT.
const PublicProtocol = "/ipfs/kad/1.0.0"

// DHT is the node's DHT.
type DHT = kaddht.IpfsDHT

// Mode parses the Routing.Type config value.
func Mode(s string) (kaddht.ModeOpt, error) {
	switch s {
	case "", "auto":
		return kaddht.ModeAuto, nil
	case "server":
		return kaddht.ModeServer, nil
	case "client":
		return kaddht.ModeClient, nil
	}
	return 0, fmt.Errorf("routing mode %q: use auto, server or client", s)
}

// New starts the DHT on h. ipnsValidator checks /ipns records.
func New(ctx context.Context, h host.Host, mode string, bootstrap []peer.AddrInfo, ipnsValidator record.Validator) (*DHT, error) {
	m, err := Mode(mode)
	if err != nil {
		return nil, err
	}
	// kad-dht refuses any /ipns validator but boxo's when the protocol
	// prefix is /ipfs. So the prefix is set to something else and the
	// protocol is pinned back to the public /ipfs/kad/1.0.0: the node speaks
	// the public DHT, and our validator decides which records it stores.
	d, err := kaddht.New(h,
		kaddht.Mode(m),
		kaddht.BootstrapPeers(bootstrap...),
		kaddht.ProtocolPrefix("/node"),
		kaddht.V1ProtocolOverride(PublicProtocol),
		kaddht.Validator(record.NamespacedValidator{"pk": record.PublicKeyValidator{}, "ipns": ipnsValidator}),
	)
	if err != nil {
		return nil, fmt.Errorf("starting the DHT: %w", err)
	}
	if err := d.Bootstrap(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("bootstrapping the DHT: %w", err)
	}
	return d, nil
}
