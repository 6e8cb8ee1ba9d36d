package gateway

import (
	"math"
	"strings"
)

// byteRange is the half-open interval [start, end) of a representation.
type byteRange struct {
	start, end int64
}

// parseRange reads a Range header (RFC 9110, section 14.1.2) for a
// representation of size bytes. valid is false when the header is not a
// well-formed bytes range set: such a header is ignored (the whole
// representation is sent). Otherwise ranges holds the satisfiable ranges,
// clipped to the size, in the order given; when it is empty the request
// is unsatisfiable (416).
func parseRange(header string, size int64) (ranges []byteRange, valid bool) {
	unit, set, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return nil, false
	}
	specs := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue // empty list elements are allowed
		}
		specs++
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, false
		}
		if first == "" {
			// A suffix: the last n bytes.
			n, ok := parseDigits(last)
			if !ok {
				return nil, false
			}
			if n == 0 || size == 0 {
				continue
			}
			ranges = append(ranges, byteRange{max(size-n, 0), size})
			continue
		}
		start, ok := parseDigits(first)
		if !ok {
			return nil, false
		}
		end := int64(math.MaxInt64)
		if last != "" {
			l, ok := parseDigits(last)
			if !ok || l < start {
				return nil, false
			}
			if l < math.MaxInt64 {
				end = l + 1
			}
		}
		if start >= size {
			continue
		}
		ranges = append(ranges, byteRange{start, min(end, size)})
	}
	if specs == 0 {
		return nil, false
	}
	return ranges, true
}

// parseDigits parses a non-empty decimal number; values past MaxInt64
// saturate, as they are past the end of any representation anyway.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	return n, true
}
