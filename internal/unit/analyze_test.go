package unit

import "testing"

func TestFilterRows(t *testing.T) {
	out := `[{"set":true,"name":"PrivateTmp=","json_field":"PrivateTmp"},
{"set":false,"name":"SystemCallFilter=~@swap","exposure":0.2},
{"set":true,"name":"SystemCallFilter=~@clock"},
{"name":"SystemCallFilter=~@cpu-emulation"}]`
	m, err := filterRows([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["SystemCallFilter=~@swap"] || !m["SystemCallFilter=~@clock"] {
		t.Errorf("rows %v, want @swap unset and @clock set only", m)
	}
	if _, err := filterRows([]byte("not json")); err == nil {
		t.Error("no error for output that is not JSON")
	}
}
