// Package server is the Bitswap server: the network glue around the
// deterministic decision engine (package decision). One goroutine owns the
// engine; received wants are resolved against the block store (have it?
// how big?) in the receiving goroutine, then handed to the owner as
// events; the owner asks the engine for tasks and gives each to the sender
// goroutine of its peer (one per peer with work), which reads the blocks,
// sends the message and reports back what was sent. A peer that stalls
// holds up only its own answers.
package server
