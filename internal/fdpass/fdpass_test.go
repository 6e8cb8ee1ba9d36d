package fdpass

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair returns two connected Unix stream sockets.
func socketPair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// pipe returns a pipe whose read end gives up after a deadline.
func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	return r, w
}

func TestFilesCrossTheSocket(t *testing.T) {
	// A directory deeper than a socket address holds: reached through
	// /proc/self/fd.
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "api.sock")
	if len(path) <= maxSockPath {
		t.Fatalf("test path %q is short enough for a socket address; the test needs a longer one", path)
	}
	// A stale socket file from a crashed daemon is replaced.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if info, err := os.Stat(path); err != nil || info.Mode().Type() != os.ModeSocket || info.Mode().Perm() != 0o600 {
		t.Fatalf("socket file: %v %v, want a socket with mode 0600", info.Mode(), err)
	}

	type got struct {
		msg   []byte
		files []*os.File
		err   error
	}
	accepted := make(chan got, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- got{err: err}
			return
		}
		defer c.Close()
		msg, files, err := ReadMsg(c, 1<<10, 2)
		accepted <- got{msg, files, err}
	}()

	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r1, w1 := pipe(t)
	r2, w2 := pipe(t)
	want := bytes.Repeat([]byte("request "), 100)
	if err := WriteMsg(c, want, []*os.File{w1, w2}); err != nil {
		t.Fatal(err)
	}
	g := <-accepted
	if g.err != nil {
		t.Fatal(g.err)
	}
	if !bytes.Equal(g.msg, want) || len(g.files) != 2 {
		t.Fatalf("got %d bytes and %d files, want %d bytes and 2 files", len(g.msg), len(g.files), len(want))
	}
	for i, f := range g.files {
		flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("received file %d is not close-on-exec (flags %#x, %v)", i, flags, err)
		}
	}
	// The received files are the sender's pipes.
	for i, pair := range [][2]*os.File{{g.files[0], r1}, {g.files[1], r2}} {
		w, r := pair[0], pair[1]
		if _, err := w.WriteString("through the daemon"); err != nil {
			t.Fatal(err)
		}
		w.Close()
		buf := make([]byte, 64)
		n, err := r.Read(buf)
		if err != nil || string(buf[:n]) != "through the daemon" {
			t.Fatalf("pipe %d: read %q, %v", i, buf[:n], err)
		}
	}

	l.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket file outlives Close: %v", err)
	}
}

func TestRefusesTooManyFilesAndClosesThem(t *testing.T) {
	a, b := socketPair(t)
	r, w := pipe(t)
	if err := WriteMsg(a, []byte("x"), []*os.File{w, w, w}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadMsg(b, 10, 2); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("3 files with a limit of 2: %v, want ErrTooLarge", err)
	}
	// The reader closed what it received: once the sender closes its
	// own copy, the pipe's reader sees the end.
	w.Close()
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("pipe still open after the refused message (%d, %v): received files leaked", n, err)
	}
}

func TestRefusesBadMessages(t *testing.T) {
	for name, tc := range map[string]struct {
		send []byte
		want error
	}{
		"over the limit":     {append([]byte{200, 1}, make([]byte, 200)...), ErrTooLarge},
		"cut in the prefix":  {[]byte{0x80}, io.ErrUnexpectedEOF},
		"cut in the message": {[]byte{10, 'a', 'b'}, io.ErrUnexpectedEOF},
		"nothing":            {nil, io.EOF},
	} {
		t.Run(name, func(t *testing.T) {
			a, b := socketPair(t)
			if _, err := a.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			a.CloseWrite()
			if _, _, err := ReadMsg(b, 100, 0); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	a, b := socketPair(t)
	a.Write(bytes.Repeat([]byte{0xff}, 11))
	if _, _, err := ReadMsg(b, 100, 0); err == nil || !strings.Contains(err.Error(), "length prefix") {
		t.Fatalf("an endless varint: %v", err)
	}
}

func FuzzReadMsg(f *testing.F) {
	f.Add([]byte{5, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0})
	f.Add([]byte{0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := socketPair(t)
		go func() {
			a.Write(in)
			a.CloseWrite()
		}()
		msg, files, err := ReadMsg(b, 64, 0)
		if err != nil {
			return
		}
		if len(files) != 0 {
			t.Fatal("files from plain bytes")
		}
		size, k := uvarint(in)
		if k <= 0 || size > 64 || !bytes.Equal(msg, in[k:k+int(size)]) {
			t.Fatalf("read %q from %q", msg, in)
		}
	})
}

// uvarint decodes the length prefix independently of ReadMsg.
func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}
