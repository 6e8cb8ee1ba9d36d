package server

// putBuffers returns the buffers a message's blocks were read into, once
// the message has been written or dropped: nothing reads them any more.
func (s *Server) putBuffers(bufs []*[]byte) {
	for _, b := range bufs {
		s.bufs.Put(b)
	}
}
