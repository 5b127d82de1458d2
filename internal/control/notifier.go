package control

import "sync"

// Notifier implements the Changed half of Backend: Changed returns a
// channel that Notify closes. The zero value is ready to use. Embed it in
// a Backend and call Notify whenever mode, state, activation, upstream
// health, pins or the bundle change.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// Changed returns the channel the next Notify closes.
func (n *Notifier) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Notify wakes everyone waiting on Changed.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
