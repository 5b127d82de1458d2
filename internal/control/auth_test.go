package control

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/nstest"
)

// leakedURL is issue 12's example: a mirror URL with credentials in a
// bundle error, which no user may read back from the service.
const leakedURL = "https://alice:hunter2@pins.mirror.example/pins.json?token=SECRET123"

type fakeToken struct {
	sid       string
	sidErr    error
	elevated  bool
	admin     bool
	memberErr error
}

func (f fakeToken) IsElevated() bool               { return f.elevated }
func (f fakeToken) IsAdministrator() (bool, error) { return f.admin, f.memberErr }
func (f fakeToken) UserSID() (string, error)       { return f.sid, f.sidErr }

// The Windows decision, through the clientToken seam (peer_windows.go
// feeds it the pipe client's real token).
func TestIdentityFromToken(t *testing.T) {
	t.Parallel()
	const sid = "S-1-5-21-1-2-3-1001"
	for _, tc := range []struct {
		name    string
		tok     fakeToken
		want    identity
		wantErr bool
	}{
		{"standard user", fakeToken{sid: sid}, identity{User: sid}, false},
		{"elevated admin", fakeToken{sid: sid, elevated: true}, identity{User: sid, Admin: true}, false},
		{"admin member (UAC off, or SYSTEM)", fakeToken{sid: sid, admin: true}, identity{User: sid, Admin: true}, false},
		{"group check fails: no rights", fakeToken{sid: sid, admin: true, memberErr: errors.New("access denied")}, identity{User: sid}, true},
		{"no user SID", fakeToken{sidErr: errors.New("bad token"), elevated: true}, identity{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := identityFromToken(tc.tok)
			if (err != nil) != tc.wantErr || (err == nil && got != tc.want) || (err != nil && got.Admin) {
				t.Fatalf("identityFromToken = %+v, %v; want %+v (error %v), never admin on error", got, err, tc.want, tc.wantErr)
			}
		})
	}
	// An error makes the server treat the client as an unknown user.
	s := &server{}
	s.o.defaults()
	p := Peer{Known: true, UID: -1, lazy: &lazyIdentity{learn: func() (identity, error) {
		return identityFromToken(fakeToken{sid: sid, elevated: true, sidErr: errors.New("x")})
	}}}
	if id := s.identify(p); id.Admin || id.User != "unknown" {
		t.Fatalf("identify with a failing token: %+v", id)
	}
}

func TestUserSlots(t *testing.T) {
	t.Parallel()
	u := newUserSlots(2, 3)
	a, b, root := identity{User: "uid 1"}, identity{User: "uid 2"}, identity{User: "uid 0", Admin: true}
	take := func(id identity) (func(), string) { return u.take(id) }
	ra1, _ := take(a)
	if _, why := take(a); why != "" {
		t.Fatal(why)
	}
	if _, why := take(a); why != "2 of one user" {
		t.Fatalf("third for a: %q", why)
	}
	if _, why := take(b); why != "" {
		t.Fatal(why)
	}
	if _, why := take(b); why != "3 of all users" {
		t.Fatalf("users' total: %q", why)
	}
	// Root is held to its own share only.
	if _, why := take(root); why != "" {
		t.Fatal(why)
	}
	if _, why := take(root); why != "" {
		t.Fatal(why)
	}
	if _, why := take(root); why != "2 of one user" {
		t.Fatalf("root's share: %q", why)
	}
	ra1()
	ra1() // twice is once
	if _, why := take(b); why != "" {
		t.Fatalf("after a release: %q", why)
	}
	if _, why := take(b); why == "" {
		t.Fatal("a double release freed two slots")
	}
}

// Every string in a Status goes through the redaction: set each string
// field (found by reflection, so a new field is not forgotten) to the
// leaked URL and look for its secrets in the result.
func TestStatusRedactedCoversEveryField(t *testing.T) {
	t.Parallel()
	st := Status{Bundle: &Bundle{}}
	var fill func(v reflect.Value)
	n := 0
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			v.SetString("see " + leakedURL + " now")
			n++
		case reflect.Pointer:
			if !v.IsNil() {
				fill(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				fill(v.Field(i))
			}
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
			for i := 0; i < v.Len(); i++ {
				fill(v.Index(i))
			}
		}
	}
	fill(reflect.ValueOf(&st).Elem())
	orig := st.Bundle.LastError
	red := st.Redacted()
	s := strings.Join(strings.Fields(strings.ReplaceAll(reflectStrings(reflect.ValueOf(red)), "\x00", " ")), " ")
	for _, secret := range []string{"alice", "hunter2", "SECRET123", "token="} {
		if strings.Contains(s, secret) {
			t.Errorf("redacted status still has %q: %s", secret, s)
		}
	}
	if got := strings.Count(s, "https://[redacted]@pins.mirror.example/pins.json?[redacted]"); got != n {
		t.Errorf("%d of %d string fields redacted: %s", got, n, s)
	}
	if st.Bundle.LastError != orig {
		t.Error("Redacted changed the original")
	}
}

func reflectStrings(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String() + "\x00"
	case reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		return reflectStrings(v.Elem())
	case reflect.Struct, reflect.Slice:
		var b strings.Builder
		n := v.Len
		if v.Kind() == reflect.Struct {
			n = v.NumField
		}
		for i := 0; i < n(); i++ {
			if v.Kind() == reflect.Struct {
				b.WriteString(reflectStrings(v.Field(i)))
			} else {
				b.WriteString(reflectStrings(v.Index(i)))
			}
		}
		return b.String()
	}
	return ""
}

// What redacting the status costs per answer (status, each event).
func BenchmarkStatusRedacted(b *testing.B) {
	st := sampleStatus()
	st.Bundle = &Bundle{Serial: 3, LastError: leakedURL + ": HTTP 503", Source: leakedURL}
	for b.Loop() {
		st.Redacted()
	}
}

// A user repeating refused requests gets one Warn line a minute, so it
// cannot flood the log the support report carries.
func TestRefusalsLoggedOncePerMinute(t *testing.T) {
	t.Parallel()
	var buf nstest.SyncBuffer
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	b, _ := newLive()
	addr := serve(t, b, ServerOptions{AdminUID: 4242, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	c := NewClient(addr)
	for i := 0; i < 5; i++ {
		if err := c.SetMode(testCtx(t), "passthrough"); err == nil {
			t.Fatal("passthrough allowed")
		}
		if err := c.Reload(testCtx(t)); err == nil {
			t.Fatal("reload allowed")
		}
	}
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d Warn lines for 10 refusals, want 1:\n%s", n, buf.String())
	}
}
