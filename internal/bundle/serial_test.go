package bundle

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// signRaw signs a payload without Sign's checks, as a key holder with
// another tool (or an older dnspin) could.
func signRaw(t *testing.T, priv ed25519.PrivateKey, serial uint64) []byte {
	t.Helper()
	raw := fmt.Appendf(nil, `{"version":1,"platform":%q,"serial":%d,"issued":"2026-11-26T00:00:00Z","expires":"2026-12-26T00:00:00Z","pins":[{"name":"shop.tickets.example","a":["192.0.2.77"]}]}`, platform, serial)
	out, err := json.Marshal(envelope{Version: Version,
		Payload:   base64.StdEncoding.EncodeToString(raw),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, raw))})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSerialLimits(t *testing.T) {
	t.Parallel()
	if MaxSerial != 9007199254740991 {
		t.Fatalf("MaxSerial = %d, documented as 2^53-1", MaxSerial)
	}
	pub, priv := newKey(t)
	for _, tc := range []struct {
		serial uint64
		ok     bool
	}{
		{MaxSerial - 1, true},
		{MaxSerial, true},
		{MaxSerial + 1, false},
		{math.MaxUint64, false},
	} {
		t.Run(fmt.Sprint(tc.serial), func(t *testing.T) {
			t.Parallel()
			_, serr := Sign(priv, payload(tc.serial, pin("shop.tickets.example", "192.0.2.10")))
			p, verr := Verify(pub, signRaw(t, priv, tc.serial), expect(1))
			if tc.ok {
				if serr != nil || verr != nil || p.Serial != tc.serial {
					t.Fatalf("sign %v, verify %v, payload %+v", serr, verr, p)
				}
				return
			}
			want := fmt.Sprintf("serial %d is above the maximum 9007199254740991", tc.serial)
			for what, err := range map[string]error{"Sign": serr, "Verify": verr} {
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %v, want ErrMalformed naming %q", what, err, want)
				}
			}
		})
	}
}

// At the maximum no bundle is newer: the fetcher refuses everything
// instead of computing max+1 (for 2^64-1 that wrapped to 0 and let any
// old bundle in).
func TestFetcherSerialAtMax(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, MaxSerial-1, pin("shop.tickets.example", "192.0.2.10")))
	f := h.fetcher(t, h.opts(trust(m), m.url()))
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.set(h.sign(t, MaxSerial, pin("shop.tickets.example", "192.0.2.11")), "")
	if err := f.FetchNow(context.Background()); err != nil || f.Status().Serial != MaxSerial {
		t.Fatalf("max serial: %v, status %+v", err, f.Status())
	}
	for _, s := range []uint64{1, MaxSerial - 1} {
		m.set(h.sign(t, s, pin("shop.tickets.example", "192.0.2.66")), "")
		if err := f.FetchNow(context.Background()); err == nil || !strings.Contains(err.Error(), "is at or above the maximum 9007199254740991") {
			t.Errorf("serial %d after max: %v", s, err)
		}
	}
	// Above the maximum from the mirror: refused, pins unchanged.
	m.set(signRaw(t, h.priv, math.MaxUint64), "")
	if err := f.FetchNow(context.Background()); err == nil {
		t.Error("serial 2^64-1 accepted")
	}
	if got := h.applied.names(); got != "shop.tickets.example=192.0.2.11" {
		t.Errorf("applied %s", got)
	}
}

// A state file at 2^64-1 (written by an older dnspin that accepted such a
// bundle) keeps refusing: anti-rollback must not start over at 0.
func TestFetcherPersistedSerialAboveMax(t *testing.T) {
	for _, serial := range []uint64{MaxSerial, MaxSerial + 1, math.MaxUint64} {
		t.Run(fmt.Sprint(serial), func(t *testing.T) {
			h := newHarness(t)
			st := fetchState{Serial: serial, Key: FormatPublicKey(h.pub), Platform: platform}
			if err := (store{dir: filepath.Join(h.dir, "bundle")}).saveState(st); err != nil {
				t.Fatal(err)
			}
			m := newMirror(t, h.sign(t, 5, pin("shop.tickets.example", "192.0.2.66")))
			f := h.fetcher(t, h.opts(trust(m), m.url()))
			err := f.FetchNow(context.Background())
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the serial in use, %d, is at or above the maximum", serial)) {
				t.Fatalf("FetchNow = %v", err)
			}
			if h.applied.n() != 0 {
				t.Errorf("pins applied: %s", h.applied.names())
			}
			b, _ := os.ReadFile(filepath.Join(h.dir, "bundle", "state.json"))
			if !strings.Contains(string(b), fmt.Sprintf(`"serial": %d`, serial)) {
				t.Errorf("state.json changed: %s", b)
			}
			// A new key starts over (the documented way out).
			h2 := newHarness(t)
			h2.dir = h.dir
			m2 := newMirror(t, h2.sign(t, 1, pin("shop.tickets.example", "192.0.2.12")))
			f2 := h2.fetcher(t, h2.opts(trust(m2), m2.url()))
			if err := f2.FetchNow(context.Background()); err != nil || h2.applied.names() != "shop.tickets.example=192.0.2.12" {
				t.Errorf("new key: %v, applied %s", err, h2.applied.names())
			}
		})
	}
}
