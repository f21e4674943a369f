package packcache

import (
	"context"
	"fmt"
)

// A clone Flux or C git will ask for: the protocol, and the request for a
// tip. The cache key leaves the client's agent out, so these need not name
// the clients' versions.
type clone struct {
	client, protocol string
	request          func(tip string) []byte
}

// clones are the requests prepared after each change: a depth-1 clone of
// a deploy branch's tip by Flux (source-controller's go-git, protocol v0)
// and by C git 2.39 (`git clone --depth 1`, protocol v2). Tests check them
// against what those clients send (TestPreparedRequestsAreTheClients').
var clones = []clone{
	{"flux", "", func(tip string) []byte {
		b := appendPkt(nil, "want "+tip+" multi_ack_detailed side-band-64k ofs-delta shallow no-progress\n")
		b = appendPkt(b, "deepen 1\n")
		b = append(b, "0000"...)
		return appendPkt(b, "done\n")
	}},
	{"git", "version=2", func(tip string) []byte {
		b := appendPkt(nil, "command=fetch")
		b = appendPkt(b, "object-format=sha1")
		b = append(b, "0001"...)
		for _, a := range []string{"thin-pack", "no-progress", "include-tag", "ofs-delta", "deepen 1", "want " + tip + "\n", "done\n"} {
			b = appendPkt(b, a)
		}
		return append(b, "0000"...)
	}},
}

// Prepare keeps the answers to the clones Flux and C git ask for (a
// depth-1 clone, see clones) of the tip of every deploy branch of the
// served repository dir, unless they are kept already, so that the first
// clone after an advance is served from the cache.
func (c *Cache) Prepare(ctx context.Context, dir string) error {
	st, _, err := c.current(ctx, dir)
	if err != nil {
		return err
	}
	for _, tip := range st.tips {
		for _, cl := range clones {
			req := cl.request(tip)
			k, st, gen, ok := c.keyOf(ctx, dir, cl.protocol, req)
			if !ok {
				return fmt.Errorf("%s clone of %s in %s: not a request the cache keeps", cl.client, tip, dir)
			}
			c.mu.Lock()
			have := c.files[k] != nil
			c.mu.Unlock()
			if have {
				continue
			}
			if _, kept := c.fill(ctx, dir, cl.protocol, req, k, st, gen); !kept {
				return fmt.Errorf("%s clone of %s in %s: not kept", cl.client, tip, dir)
			}
		}
	}
	return nil
}

// Schedule asks Run to prepare dir (see Prepare); it never waits, and a
// directory scheduled again before Run got to it is prepared once.
// storage's NotifyRefs is where it is called, after Invalidate.
func (c *Cache) Schedule(dir string) {
	c.mu.Lock()
	c.pending[dir] = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run prepares the directories Schedule names, one at a time, until ctx
// ends.
func (c *Cache) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		for {
			c.mu.Lock()
			var dir string
			for d := range c.pending {
				dir = d
				break
			}
			delete(c.pending, dir)
			c.mu.Unlock()
			if dir == "" || ctx.Err() != nil {
				break
			}
			if err := c.Prepare(ctx, dir); err != nil {
				c.logger.Warn("pack cache: clone not prepared", "repository", dir, "err", err)
			}
		}
	}
}
