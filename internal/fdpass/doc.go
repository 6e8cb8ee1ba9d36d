// Package fdpass sends length-prefixed messages with open files attached
// over a Unix socket, between processes of the same user.
//
// The CLI uses it to hand its standard input, output and error to the
// daemon, which then reads and writes them directly: `node cat` through a
// daemon costs no more than without one, where relaying the output over
// the HTTP API doubled the copies (see cmd/node/local.go).
//
//	l, _ := fdpass.Listen(path)   // the daemon; only this user may connect
//	c, _ := l.Accept()
//	msg, files, _ := fdpass.ReadMsg(c, maxLen, maxFiles)
//
//	c, _ := fdpass.Dial(path)     // the client
//	fdpass.WriteMsg(c, msg, []*os.File{os.Stdin, os.Stdout, os.Stderr})
//
// A message is an unsigned varint length followed by that many bytes; the
// files travel as SCM_RIGHTS with its first byte. Received files are
// close-on-exec. Paths longer than a socket address allows are reached
// through /proc/self/fd (Linux), so a deep $NODE_PATH still works.
package fdpass
