package journal

import (
	"bytes"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func FuzzParseStack(f *testing.F) {
	f.Add("Stack trace of thread 67:\n#0  0x00007f43f7116547 __fchown (libc.so.6 + 0xf9547)\n")
	f.Add("#0 0x1 n/a (n/a + 0x0)\nStack trace of thread 1:\n#9 0xffffffffffffffffff x (y + 0xzz)")
	f.Fuzz(func(t *testing.T, s string) {
		_, frames, _ := ParseStack(s)
		for _, fr := range frames {
			if fr.Function == "n/a" || fr.Module == "n/a" {
				t.Fatalf("n/a kept: %+v", fr)
			}
		}
	})
}

// FuzzParseCoreSigInfo: hostile core bytes never panic; an error comes with a zero SigInfo.
func FuzzParseCoreSigInfo(f *testing.F) {
	raw, err := os.ReadFile("testdata/debian12-systemd252-x86_64-sh-chown-fchownat.core.zst")
	if err != nil {
		f.Fatal(err)
	}
	d, _ := zstd.NewReader(bytes.NewReader(raw))
	core, err := d.DecodeAll(raw, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(core[:min(len(core), 8192)])
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		si, err := ParseCoreSigInfo(data)
		if err != nil && si != (SigInfo{}) {
			t.Fatalf("error %v with %+v", err, si)
		}
	})
}

func FuzzReadExport(f *testing.F) {
	f.Add([]byte("A=1\nB=2\n\nC=3\n"))
	f.Add([]byte("BIN\n\x03\x00\x00\x00\x00\x00\x00\x00abc\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ReadExport(bytes.NewReader(data), func(Fields) error { return nil })
	})
}
