package storage

// NotifyRefs makes f be called with a repository's directory each time
// its refs or HEAD may have changed (Repo.UpdateRefs past its commit
// point, Repo.SetHead), before the call that changed them returns, so a
// front end that remembers what the refs were (storage/refadv) can forget
// it before anyone learns of the change. f must be safe for concurrent
// use. A later call replaces f; nil removes it.
func (s *Store) NotifyRefs(f func(dir string)) {
	if f == nil {
		s.refsChanged.Store(nil)
		return
	}
	s.refsChanged.Store(&f)
}

func (s *Store) notifyRefs(dir string) {
	if f := s.refsChanged.Load(); f != nil {
		(*f)(dir)
	}
}
