package timespec

import (
	"testing"
	"testing/fstest"
)

func TestBootTime(t *testing.T) {
	proc := fstest.MapFS{"stat": {Data: []byte("cpu  1 2 3\nintr 5\nctxt 9\nbtime 1795428000\nprocesses 7\n")}}
	bt, err := BootTime(proc)
	if err != nil || bt.Unix() != 1795428000 {
		t.Errorf("BootTime = %v, %v; want 1795428000", bt.Unix(), err)
	}
	for name, stat := range map[string]string{"no btime": "cpu 1\n", "malformed": "btime soon\n"} {
		if _, err := BootTime(fstest.MapFS{"stat": {Data: []byte(stat)}}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := BootTime(fstest.MapFS{}); err == nil {
		t.Error("no stat: no error")
	}
}
