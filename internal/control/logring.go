package control

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// LogRing is an slog.Handler that keeps the last lines logged, in text
// form, in memory for support reports. It is bounded: at most Lines lines
// of at most MaxLineBytes each. The service tees its logger into it.
type LogRing struct {
	h   slog.Handler // text handler writing into buf
	buf *ringBuf
}

// MaxLineBytes bounds one line kept by a LogRing.
const MaxLineBytes = 2 << 10

// NewLogRing keeps the last n lines at level and above (nil level: Info).
func NewLogRing(n int, level slog.Leveler) *LogRing {
	if n < 1 {
		n = 1
	}
	if level == nil {
		level = slog.LevelInfo
	}
	rb := &ringBuf{lines: make([]string, n)}
	return &LogRing{h: slog.NewTextHandler(rb, &slog.HandlerOptions{Level: level}), buf: rb}
}

var _ slog.Handler = (*LogRing)(nil)

// Enabled reports whether level is kept.
func (r *LogRing) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

// Handle formats the record as one text line and keeps it.
func (r *LogRing) Handle(ctx context.Context, rec slog.Record) error { return r.h.Handle(ctx, rec) }

// WithAttrs returns a handler that adds attrs and shares the ring.
func (r *LogRing) WithAttrs(as []slog.Attr) slog.Handler {
	return &LogRing{h: r.h.WithAttrs(as), buf: r.buf}
}

// WithGroup returns a handler that qualifies keys and shares the ring.
func (r *LogRing) WithGroup(name string) slog.Handler {
	return &LogRing{h: r.h.WithGroup(name), buf: r.buf}
}

// Lines returns the kept lines, oldest first.
func (r *LogRing) Lines() []string { return r.buf.snapshot() }

// ringBuf receives one Write per record from slog.TextHandler.
type ringBuf struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func (b *ringBuf) Write(p []byte) (int, error) {
	n := len(p)
	s := strings.TrimRight(string(p), "\n")
	if len(s) > MaxLineBytes {
		s = strings.ToValidUTF8(s[:MaxLineBytes-len(" [cut]")], "") + " [cut]"
	}
	b.mu.Lock()
	b.lines[b.next] = s
	b.next++
	if b.next == len(b.lines) {
		b.next, b.full = 0, true
	}
	b.mu.Unlock()
	return n, nil
}

func (b *ringBuf) snapshot() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.full {
		return append([]string(nil), b.lines[:b.next]...)
	}
	out := make([]string, 0, len(b.lines))
	out = append(out, b.lines[b.next:]...)
	return append(out, b.lines[:b.next]...)
}
