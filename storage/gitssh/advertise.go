package gitssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Advertiser answers ref checks from memory (storage/refadv.Cache
// satisfies it). Conversation returns what `git upload-pack` writes
// first in a conversation: the ref advertisement (protocol v0, v1) or the
// capability advertisement (v2), or an error, and git runs as before.
// LsRefs writes git's answer to one protocol v2 ls-refs request, or
// returns an error having written nothing, and git answers it.
type Advertiser interface {
	Conversation(ctx context.Context, dir, protocol string) ([]byte, error)
	LsRefs(ctx context.Context, dir, protocol string, req io.Reader, w io.Writer) error
}

// WithAdvertiser answers ref checks over SSH from a: the advertisement,
// and in protocol v2 each ls-refs command, is sent from memory, and only
// a client that then wants objects gets a clone slot and a git
// upload-pack. A client that wants nothing (git ls-remote, Flux's check
// before a clone) takes neither.
func WithAdvertiser(a Advertiser) Option { return func(s *Server) { s.adv = a } }

// PackCache answers clone requests from answers kept on disk
// (storage/packcache.Cache satisfies it). Conversation returns what git
// upload-pack writes in a conversation in answer to req once it has
// written its advertisement, to read and close, or false when git must
// run for req.
type PackCache interface {
	Conversation(ctx context.Context, dir, protocol string, req []byte) (io.ReadCloser, bool)
}

// WithPackCache answers clones over SSH from p where it can (with
// WithAdvertiser only: the conversation must begin from memory). An
// answer from p takes a clone slot (WithLimiter) like git does.
func WithPackCache(p PackCache) Option { return func(s *Server) { s.packs = p } }

// opening is how a conversation began before git ran: the sections of
// git's output the client has had (the advertisement, then perhaps the
// shallow lines of a v0 clone), each ending with a flush, and the bytes
// it sent since, which git reads first.
type opening struct {
	sent [][]byte
	head []byte
}

// errHungUp is a client that closed the session in the middle of a
// request, or after the advertisement without a word (git upload-pack
// would say "the remote end hung up").
var errHungUp = errors.New("client hung up after the advertisement")

// skipSection reads pkt-lines up to and including the first flush (git's
// advertisement, or its shallow lines) from git's stdout, so that the
// client, which has had them, gets only what follows. It returns what it
// read.
func skipSection(r io.Reader) ([]byte, error) {
	var out bytes.Buffer
	hdr := make([]byte, 4)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return out.Bytes(), fmt.Errorf("git's advertisement: %w", err)
		}
		out.Write(hdr)
		n, err := strconv.ParseUint(string(hdr), 16, 16)
		switch {
		case err != nil || n == 1 || n == 2 || n == 3:
			return out.Bytes(), fmt.Errorf("git's advertisement: bad pkt-line length %q", hdr)
		case n == 0:
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, r, int64(n)-4); err != nil {
			return out.Bytes(), fmt.Errorf("git's advertisement: %w", err)
		}
	}
}
