package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// Handler returns an slog.Handler that redacts every record before h sees
// it: the message, string and error attributes (by key too: a key naming a
// secret hides its whole value) and other values whose text holds a secret.
func Handler(h slog.Handler) slog.Handler {
	return &handler{h: h}
}

type handler struct{ h slog.Handler }

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &handler{h: h.h.WithAttrs(red)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h: h.h.WithGroup(name)}
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Field(a.Key, v.String()))
	case slog.KindGroup:
		gs := v.Group()
		red := make([]any, len(gs))
		for i, g := range gs {
			red[i] = h.attr(g)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		var s string
		if err, ok := v.Any().(error); ok {
			s = err.Error()
		} else {
			s = fmt.Sprint(v.Any())
		}
		if r := Field(a.Key, s); r != s {
			return slog.String(a.Key, r)
		}
		if _, ok := v.Any().(error); ok {
			return slog.String(a.Key, s) // an error's text, resolved once
		}
		return slog.Attr{Key: a.Key, Value: v} // a list or struct without secrets keeps its form
	}
	if secretKey(a.Key) { // a number or time under a secret's name
		return slog.String(a.Key, hashed(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
