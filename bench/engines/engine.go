package main

import (
	"fmt"
)

// engine is what the workloads need from a candidate store. Keys are
// multihash bytes. PutMany does not have to be durable; Sync is the
// durability point (everything put before it survives a power cut).
type engine interface {
	PutMany(keys [][]byte, vals [][]byte) error
	Sync() error
	Get(key []byte) ([]byte, error)
	Delete(key []byte) error
	Keys(fn func(key []byte)) error
	Close() error
}

type opener func(dir string) (engine, error)

var engines = map[string]opener{
	"flatfs-sync":   func(d string) (engine, error) { return openFlatfs(d, true) },
	"flatfs-syncfs": func(d string) (engine, error) { return openFlatfs(d, false) },
	"pebble":        func(d string) (engine, error) { return openPebble(d, false) },
	"pebble-valsep": func(d string) (engine, error) { return openPebble(d, true) },
	"badger":        openBadger,
	"pack":          openPack,
	"product":       openProduct,
}

var engineOrder = []string{"flatfs-sync", "flatfs-syncfs", "pebble", "pebble-valsep", "badger", "pack", "product"}

var errNotFound = fmt.Errorf("not found")
