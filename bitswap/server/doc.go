// Package server is the Bitswap server: the network glue around the
// deterministic decision engine (package decision). One goroutine owns the
// engine; received wants are resolved against the block store (have it?
// how big?) in the receiving goroutine, then handed to the owner as
// events; the owner asks the engine for tasks and gives them to a few
// sender goroutines, which read the blocks, send the message and report
// back what was sent.
package server
