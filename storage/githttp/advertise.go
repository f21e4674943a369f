package githttp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
)

// Advertiser answers ref checks without starting git and without a clone
// slot (storage/refadv.Cache satisfies it). Each method writes the body
// git upload-pack would, or returns an error having written nothing, and
// the handler runs git as before.
type Advertiser interface {
	// InfoRefs writes `upload-pack --stateless-rpc --advertise-refs`'s
	// output for dir, for a client sending Git-Protocol protocol.
	InfoRefs(ctx context.Context, dir, protocol string, w io.Writer) error
	// LsRefs writes the answer to a stateless v2 request read from req.
	LsRefs(ctx context.Context, dir, protocol string, req io.Reader, w io.Writer) error
}

// WithAdvertiser answers GET info/refs and v2 ls-refs from a: ref checks
// then never wait for a clone slot (WithLimiter) nor start a process.
func WithAdvertiser(a Advertiser) Option { return func(h *Handler) { h.adv = a } }

// advertised answers GET info/refs from h.adv, reporting whether it did.
func (h *Handler) advertised(w http.ResponseWriter, r *http.Request, dir, protocol string, log *slog.Logger) bool {
	if h.adv == nil {
		return false
	}
	var out bytes.Buffer
	if err := h.adv.InfoRefs(r.Context(), dir, protocol, &out); err != nil {
		log.Debug("info/refs not answered from memory", "err", err)
		return false
	}
	h.writeAdvertisement(w, protocol, out.Bytes())
	return true
}

// listedRefs answers a v2 ls-refs request from h.adv, reporting whether it
// did.
func (h *Handler) listedRefs(w http.ResponseWriter, r *http.Request, dir, protocol string, req *body, log *slog.Logger) bool {
	if h.adv == nil {
		return false
	}
	var out bytes.Buffer
	if err := h.adv.LsRefs(r.Context(), dir, protocol, req.reader(), &out); err != nil {
		log.Debug("request not answered from memory", "err", err)
		return false
	}
	noCache(w)
	w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
	w.Write(out.Bytes())
	return true
}
