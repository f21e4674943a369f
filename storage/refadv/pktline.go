package refadv

import (
	"errors"
	"fmt"
	"strconv"
)

// pkt is one pkt-line of gitprotocol-common(5): data, or one of the
// special packets (flush 0000, delimiter 0001, response-end 0002).
type pkt struct {
	special int // 0 for data, else 0x10 + the length field (0000..0002)
	data    []byte
}

const (
	flushPkt = 0x10 + iota
	delimPkt
	endPkt
)

var errTruncated = errors.New("truncated pkt-line")

// splitPkts splits b into pkt-lines; anything that is not a sequence of
// well-formed pkt-lines is an error.
func splitPkts(b []byte) ([]pkt, error) {
	var out []pkt
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errTruncated
		}
		n, err := strconv.ParseUint(string(b[:4]), 16, 16)
		if err != nil {
			return nil, fmt.Errorf("bad pkt-line length %q", b[:4])
		}
		switch {
		case n <= 2:
			out = append(out, pkt{special: 0x10 + int(n)})
			b = b[4:]
			continue
		case n < 4 || n > 65520:
			return nil, fmt.Errorf("bad pkt-line length %q", b[:4])
		case int(n) > len(b):
			return nil, errTruncated
		}
		out = append(out, pkt{data: b[4:n]})
		b = b[n:]
	}
	return out, nil
}

// appendPkt appends s framed as one pkt-line.
func appendPkt(b []byte, s string) []byte {
	b = fmt.Appendf(b, "%04x", len(s)+4)
	return append(b, s...)
}
