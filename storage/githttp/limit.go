package githttp

// Limiter bounds how many git upload-pack processes run at once, across
// the HTTP and SSH front ends: each is a process with memory and CPU of its
// own, and a client (or many) must not be able to start them without end.
// A nil *Limiter limits nothing.
type Limiter struct {
	slots chan struct{}
}

// NewLimiter allows n upload-packs at once.
func NewLimiter(n int) *Limiter {
	return &Limiter{slots: make(chan struct{}, n)}
}

// TryAcquire takes a slot if one is free; the caller must call release
// when its upload-pack has ended. It never waits: a busy server answers at
// once and the client retries.
func (l *Limiter) TryAcquire() (release func(), ok bool) {
	if l == nil {
		return func() {}, true
	}
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, true
	default:
		return nil, false
	}
}
