package gateway

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"net/http"
	"time"

	"node/unixfs"
)

// maxTarDepth bounds directory nesting in a TAR response.
const maxTarDepth = 1024

// serveTAR answers ?format=tar: the UnixFS file or directory tree at the
// end of the path as a TAR stream whose top entry is named after the last
// path segment (or the CID). Entries whose names could not be extracted
// safely ("..", names with '/') are left out and logged.
func (h *handler) serveTAR(w http.ResponseWriter, rq *request, wk *walked) error {
	if !isUnixFSCodec(wk.cid) {
		return withStatus(http.StatusBadRequest, fmt.Errorf("%s is a %s block, not UnixFS: ?format=tar needs a UnixFS file or directory",
			displayPath(wk.root, wk.segments), codecName(wk.cid)))
	}
	n, err := unixfs.Decode(wk.cid, wk.data)
	if err != nil {
		return withStatus(http.StatusBadRequest, fmt.Errorf("%s is not UnixFS: %w", displayPath(wk.root, wk.segments), err))
	}
	name := rq.path.lastName()
	if name == "" {
		name = wk.cidString(wk.cid)
	}
	etag := strongETag(wk.cidString(wk.cid) + ".x-tar")
	hd := w.Header()
	hd.Set("Etag", etag)
	if etagMatches(rq.r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hd.Set("Content-Type", "application/x-tar")
	contentDisposition(hd, rq, "attachment", name+".tar")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if rq.head {
		return nil
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	tw := tar.NewWriter(bw)
	err = h.tarNode(rq.ctx, tw, name, n, 0)
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		if rq.ctx.Err() == nil {
			h.log.Warn("TAR response failed midway; cutting the connection", "path", rq.path.String(), "err", err)
		}
		abortResponse()
	}
	return nil
}

// tarEpoch is the modification time of every entry: UnixFS nodes written
// by importers rarely carry one, and a fixed time keeps output stable.
var tarEpoch = time.Unix(0, 0)

func (h *handler) tarNode(ctx context.Context, tw *tar.Writer, name string, n *unixfs.Node, depth int) error {
	if depth > maxTarDepth {
		return fmt.Errorf("%s: directories nested deeper than %d", name, maxTarDepth)
	}
	mode := func(def int64) int64 {
		if n.FS.HasMode {
			return int64(n.FS.Mode & 0o7777)
		}
		return def
	}
	switch {
	case n.IsFile():
		size := int64(n.FileSize())
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: mode(0o644), ModTime: tarEpoch}); err != nil {
			return err
		}
		return unixfs.ReadRange(ctx, h.blocks, n, 0, uint64(size), func(b []byte) error {
			_, err := tw.Write(b)
			return err
		})
	case n.IsDir():
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode(0o755), ModTime: tarEpoch}); err != nil {
			return err
		}
		return unixfs.Each(ctx, h.blocks, n, func(e unixfs.DirEntry) error {
			if err := unixfs.CheckName(e.Name); err != nil {
				h.log.Warn("TAR: leaving out an entry with an unsafe name", "dir", name, "err", err)
				return nil
			}
			child, err := unixfs.Get(ctx, h.blocks, e.CID)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", name, e.Name, err)
			}
			return h.tarNode(ctx, tw, name+"/"+e.Name, child, depth+1)
		})
	case n.FS.Type == unixfs.TSymlink:
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: string(n.FS.Data), Mode: 0o777, ModTime: tarEpoch})
	}
	h.log.Warn("TAR: leaving out a UnixFS node of an unsupported type", "name", name, "type", n.FS.Type)
	return nil
}
