package control

import (
	"reflect"
	"strings"
	"testing"
)

func TestProcCreds(t *testing.T) {
	t.Parallel()
	const status = "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4711\nUid:\t1000\t1001\t1000\t1000\nGid:\t100\t101\t100\t100\nFDSize:\t256\nGroups:\t24 27 4242 \nNStgid:\t4711\n"
	uid, gid, groups, err := procCreds(strings.NewReader(status))
	if err != nil || uid != 1001 || gid != 101 || !reflect.DeepEqual(groups, []int{24, 27, 4242}) {
		t.Fatalf("procCreds = %d %d %v %v; want the effective ids and the groups", uid, gid, groups, err)
	}
	for _, bad := range []string{"Name:\tx\n", "Uid:\t1000\nGid:\t1 1 1 1\n", "Uid:\t0 0 0 0\nGid:\t0 0 0 0\nGroups:\tx\n"} {
		if _, _, _, err := procCreds(strings.NewReader(bad)); err == nil {
			t.Errorf("procCreds(%q) accepted", bad)
		}
	}
}
