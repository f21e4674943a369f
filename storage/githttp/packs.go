package githttp

import (
	"bytes"
	"context"
	"io"
)

// PackCache answers upload-pack requests from answers kept on disk
// (storage/packcache.Cache satisfies it). Serve returns false, having
// written nothing, for a request the handler must run git for; after
// true, an error is a failed write to the client.
type PackCache interface {
	Serve(ctx context.Context, dir, protocol string, req []byte, w io.Writer) (bool, error)
}

// WithPackCache answers clone requests from p where it can. An answer
// from p still takes a clone slot (WithLimiter) while it is sent: the
// slots bound the clones being sent at once, per reader and per address,
// whether git or a file sends them.
func WithPackCache(p PackCache) Option { return func(h *Handler) { h.packs = p } }

// bytes returns the body whole.
func (b *body) bytes() []byte { return bytes.Join(b.chunks, nil) }
