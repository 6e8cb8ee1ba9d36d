package dht

import (
	"context"
	"fmt"

	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

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

// New starts the DHT on h. ipnsValidator checks /ipns records (nil:
// kad-dht's default).
func New(ctx context.Context, h host.Host, mode string, bootstrap []peer.AddrInfo, ipnsValidator record.Validator) (*DHT, error) {
	m, err := Mode(mode)
	if err != nil {
		return nil, err
	}
	opts := []kaddht.Option{
		kaddht.Mode(m),
		kaddht.BootstrapPeers(bootstrap...),
		kaddht.NamespacedValidator("pk", record.PublicKeyValidator{}),
	}
	if ipnsValidator != nil {
		opts = append(opts, kaddht.NamespacedValidator("ipns", ipnsValidator))
	}
	d, err := kaddht.New(h, opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the DHT: %w", err)
	}
	if err := d.Bootstrap(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("bootstrapping the DHT: %w", err)
	}
	return d, nil
}
