package uploadpack

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// CheckRequest checks that r, a request for upload-pack, is a non-empty
// sequence of well-formed pkt-lines (gitprotocol-common(5)): four hex
// digits of length (0000 flush, 0001 delimiter and 0002 response-end are
// the only lengths below 4), then that many bytes less four, up to 65520
// in all, and nothing after the last one.
func CheckRequest(r io.Reader) error {
	var hdr [4]byte
	for i := 0; ; i++ {
		_, err := io.ReadFull(r, hdr[:])
		if err == io.EOF {
			if i == 0 {
				return errors.New("empty request")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("pkt-line %d: truncated length", i+1)
		}
		n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
		switch {
		case err != nil:
			return fmt.Errorf("pkt-line %d: bad length %q", i+1, hdr[:])
		case n <= 2:
			continue
		case n < 4 || n > 65520:
			return fmt.Errorf("pkt-line %d: bad length %q", i+1, hdr[:])
		}
		if m, _ := io.CopyN(io.Discard, r, int64(n)-4); m != int64(n)-4 {
			return fmt.Errorf("pkt-line %d: truncated", i+1)
		}
	}
}
