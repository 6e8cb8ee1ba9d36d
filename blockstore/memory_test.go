package blockstore_test

import (
	"testing"

	"node/blockstore"
	"node/blockstore/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blockstore.Store { return blockstore.NewMemory() })
}
