// Package server is the Bitswap server: the network glue around the
// deterministic decision engine (package decision). One goroutine owns the
// engine; received wants are resolved against the block store (have it?
// how big?) in the receiving goroutine, then handed to the owner as
// events; the owner asks the engine for tasks and gives each to the sender
// goroutine of its peer (one per peer with work), which reads the blocks,
// sends the message and reports back what was sent. A peer that stalls
// holds up only its own answers.
//
// Blocks of 64 KiB and more are read into buffers pooled by size class
// (256 KiB, 1 MiB, 2 MiB) when the store can read into a given buffer
// (GetBuffer, as blockstore.PackStore and WithIdentity over it offer); a
// buffer goes back to its pool once SendMessage has returned for the
// message carrying it, so Net must not keep a message after sending it.
package server
