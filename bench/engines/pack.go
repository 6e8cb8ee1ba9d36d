package main

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// pack: a prototype of an append-only pack file with an in-memory index.
// Record: crc32c(4) | length of data(4) | kind(1) | keylen(1) | key | data.
// The crc covers everything after itself. Open scans the file and stops at
// the first record whose crc fails (a torn tail). Delete appends a
// tombstone; space is not reclaimed (a product would compact).
type pack struct {
	mu    sync.Mutex // guards f's append position, w and index
	f     *os.File
	w     *bufio.Writer
	size  int64
	index map[string]loc
}

type loc struct {
	off int64
	n   int
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func openPack(dir string) (engine, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "pack"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	p := &pack{f: f, index: map[string]loc{}}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 1<<20)
	var off int64
	var hdr [10]byte
	buf := make([]byte, 0, 1<<20)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		n := int(binary.LittleEndian.Uint32(hdr[4:]))
		kl := int(hdr[9])
		if n > 4<<20 {
			break
		}
		buf = buf[:kl+n]
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		c := crc32.Update(crc32.Checksum(hdr[4:], castagnoli), castagnoli, buf)
		if c != binary.LittleEndian.Uint32(hdr[:4]) {
			break
		}
		key := string(buf[:kl])
		if hdr[8] == 1 {
			p.index[key] = loc{off + 10 + int64(kl), n}
		} else {
			delete(p.index, key)
		}
		off += 10 + int64(kl) + int64(n)
	}
	if err := f.Truncate(off); err != nil {
		return nil, err
	}
	p.size = off
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	p.w = bufio.NewWriterSize(f, 1<<20)
	return p, nil
}

func (p *pack) appendLocked(kind byte, key, val []byte) error {
	var hdr [10]byte
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(val)))
	hdr[8] = kind
	hdr[9] = byte(len(key))
	c := crc32.Checksum(hdr[4:], castagnoli)
	c = crc32.Update(c, castagnoli, key)
	c = crc32.Update(c, castagnoli, val)
	binary.LittleEndian.PutUint32(hdr[:4], c)
	p.w.Write(hdr[:])
	p.w.Write(key)
	if _, err := p.w.Write(val); err != nil {
		return err
	}
	off := p.size + 10 + int64(len(key))
	p.size = off + int64(len(val))
	if kind == 1 {
		p.index[string(key)] = loc{off, len(val)}
	} else {
		delete(p.index, string(key))
	}
	return nil
}

func (p *pack) PutMany(keys, vals [][]byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, k := range keys {
		if _, ok := p.index[string(k)]; ok {
			continue
		}
		if err := p.appendLocked(1, k, vals[i]); err != nil {
			return err
		}
	}
	return p.w.Flush()
}

func (p *pack) Sync() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.w.Flush(); err != nil {
		return err
	}
	return unix.Fdatasync(int(p.f.Fd()))
}

func (p *pack) Get(key []byte) ([]byte, error) {
	p.mu.Lock()
	l, ok := p.index[string(key)]
	p.mu.Unlock()
	if !ok {
		return nil, errNotFound
	}
	out := make([]byte, l.n)
	_, err := p.f.ReadAt(out, l.off)
	return out, err
}

func (p *pack) Delete(key []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.index[string(key)]; !ok {
		return nil
	}
	if err := p.appendLocked(2, key, nil); err != nil {
		return err
	}
	return p.w.Flush()
}

func (p *pack) Keys(fn func([]byte)) error {
	p.mu.Lock()
	keys := make([]string, 0, len(p.index))
	for k := range p.index {
		keys = append(keys, k)
	}
	p.mu.Unlock()
	for _, k := range keys {
		fn([]byte(k))
	}
	return nil
}

func (p *pack) Close() error {
	if err := p.Sync(); err != nil {
		return err
	}
	return p.f.Close()
}
