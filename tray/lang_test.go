package tray

import (
	"reflect"
	"testing"
)

func TestLangFromEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  map[string]string
		want Lang
	}{
		{map[string]string{}, English},
		{map[string]string{"LANG": "de_DE.UTF-8"}, German},
		{map[string]string{"LANG": "fr_CH.UTF-8"}, French},
		{map[string]string{"LANG": "de_AT@euro"}, German},
		{map[string]string{"LANG": "it_IT.UTF-8"}, English},
		{map[string]string{"LANG": "de_DE.UTF-8", "LC_MESSAGES": "fr_FR.UTF-8"}, French},
		{map[string]string{"LANG": "de_DE.UTF-8", "LC_MESSAGES": "fr_FR.UTF-8", "LC_ALL": "en_GB.UTF-8"}, English},
		{map[string]string{"LC_ALL": "C", "LANG": "de_DE.UTF-8"}, English},
		{map[string]string{"LC_ALL": "C.UTF-8", "LANGUAGE": "fr"}, English}, // LANGUAGE ignored for C
		{map[string]string{"LANG": "en_US.UTF-8", "LANGUAGE": "it:fr:en"}, French},
		{map[string]string{"LANGUAGE": "de"}, English}, // LANGUAGE alone needs a locale
	}
	for _, c := range cases {
		got := LangFromEnv(func(k string) string { return c.env[k] })
		if got != c.want {
			t.Errorf("%v: %s, want %s", c.env, got, c.want)
		}
	}
}

func TestAppleLanguages(t *testing.T) {
	t.Parallel()
	out := "(\n    \"it-IT\",\n    \"fr-FR\",\n    en\n)\n"
	tags := ParseAppleLanguages(out)
	if !reflect.DeepEqual(tags, []string{"it-IT", "fr-FR", "en"}) {
		t.Fatalf("tags %q", tags)
	}
	if got := PickLang(tags); got != French {
		t.Errorf("picked %s", got)
	}
	if got := PickLang(ParseAppleLanguages("(\n    \"de-CH\"\n)")); got != German {
		t.Errorf("picked %s", got)
	}
	if got := PickLang(nil); got != English {
		t.Errorf("empty picked %s", got)
	}
}

func TestParseLocaleWindowsTags(t *testing.T) {
	t.Parallel()
	for tag, want := range map[string]Lang{"de-DE": German, "fr-BE": French, "en-US": English, "nl-NL": English} {
		if got := PickLang([]string{tag}); got != want {
			t.Errorf("%s: %s", tag, got)
		}
	}
}
