package fdpass

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrTooLarge: a message over the reader's limit, in bytes or files.
var ErrTooLarge = errors.New("fdpass: message too large")

// Listener accepts connections from processes of this user (or root).
type Listener struct {
	l    *net.UnixListener
	path string
}

// maxSockPath is the longest path a socket address holds (sun_path less
// its terminating zero).
const maxSockPath = 107

// sockAddr returns an address for path that fits a socket address: path
// itself, or /proc/self/fd/N/NAME through a descriptor of its directory,
// which release closes once the socket is bound or connected.
func sockAddr(path string) (addr string, release func(), err error) {
	if len(path) <= maxSockPath {
		return path, func() {}, nil
	}
	dir, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	if len(addr) > maxSockPath {
		dir.Close()
		return "", nil, fmt.Errorf("socket name %q is too long", filepath.Base(path))
	}
	return addr, func() { dir.Close() }, nil
}

// Listen serves a socket at path, replacing a stale one left there. Only
// the owner may connect (mode 0600, and Accept checks the peer's user).
func Listen(path string) (*Listener, error) {
	addr, release, err := sockAddr(path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	defer release()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	// Not through the umask, which is the whole process's. Until the
	// chmod, Accept's check of the peer's user still keeps others out.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false) // Close removes path itself: addr may be a /proc alias
	return &Listener{l: l, path: path}, nil
}

// Accept waits for a connection from a process of this user (or root);
// connections from other users are closed and skipped.
func (l *Listener) Accept() (*net.UnixConn, error) {
	for {
		c, err := l.l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if err := checkPeer(c); err != nil {
			c.Close()
			continue
		}
		return c, nil
	}
}

// Close stops listening and removes the socket file.
func (l *Listener) Close() error {
	err := l.l.Close()
	os.Remove(l.path)
	return err
}

// checkPeer refuses a peer running as another user than this process
// (root may connect, as it may read the repository anyway).
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return credErr
	}
	if cred.Uid != uint32(os.Geteuid()) && cred.Uid != 0 {
		return fmt.Errorf("fdpass: peer runs as uid %d", cred.Uid)
	}
	return nil
}

// Dial connects to the socket at path.
func Dial(path string) (*net.UnixConn, error) {
	addr, release, err := sockAddr(path)
	if err != nil {
		return nil, err
	}
	defer release()
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: addr, Net: "unix"})
}

// WriteMsg sends msg with files attached.
func WriteMsg(c *net.UnixConn, msg []byte, files []*os.File) error {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(msg)), uint64(len(msg)))
	b = append(b, msg...)
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	n, _, err := c.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return fmt.Errorf("fdpass: sending: %w", err)
	}
	if n < len(b) {
		_, err = c.Write(b[n:])
	}
	return err
}

// ReadMsg reads one message and the files that came with it. A message
// longer than maxLen or carrying more than maxFiles files is refused with
// ErrTooLarge (the files are closed).
func ReadMsg(c *net.UnixConn, maxLen, maxFiles int) ([]byte, []*os.File, error) {
	// The files come with the first bytes read; the length prefix is
	// read a byte at a time so no later message's files are taken.
	oob := make([]byte, unix.CmsgSpace(4*(maxFiles+1)))
	var files []*os.File
	var prefix []byte
	for {
		var one [1]byte
		n, oobn, flags, _, err := c.ReadMsgUnix(one[:], oob)
		if oobn > 0 {
			got, perr := parseRights(oob[:oobn])
			files = append(files, got...)
			if perr != nil {
				closeAll(files)
				return nil, nil, perr
			}
		}
		if err != nil || n == 0 {
			closeAll(files)
			if err == nil || errors.Is(err, io.EOF) {
				err = io.EOF
				if len(prefix) > 0 || len(files) > 0 {
					err = io.ErrUnexpectedEOF
				}
			}
			return nil, nil, err
		}
		if flags&unix.MSG_CTRUNC != 0 || len(files) > maxFiles {
			closeAll(files)
			return nil, nil, fmt.Errorf("%w: more than %d files", ErrTooLarge, maxFiles)
		}
		prefix = append(prefix, one[0])
		size, k := binary.Uvarint(prefix)
		if k < 0 || (k == 0 && len(prefix) >= binary.MaxVarintLen64) {
			closeAll(files)
			return nil, nil, errors.New("fdpass: bad length prefix")
		}
		if k == 0 {
			continue
		}
		if size > uint64(maxLen) {
			closeAll(files)
			return nil, nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, size, maxLen)
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(c, msg); err != nil {
			closeAll(files)
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, nil, err
		}
		return msg, files, nil
	}
}

// parseRights turns SCM_RIGHTS control messages into files.
func parseRights(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("fdpass: control message: %w", err)
	}
	var files []*os.File
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return files, fmt.Errorf("fdpass: control message: %w", err)
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), fmt.Sprintf("passed fd %d", fd)))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
