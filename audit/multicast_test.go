package audit

import (
	"errors"
	"os"
	"testing"
	"time"
)

// Close while a Receive is blocked: the read returns ErrClosed (the runtime poller wakes it), never a
// read on a closed — possibly reused — fd.
func TestMulticastCloseWhileReceiving(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("joining the audit multicast group needs CAP_AUDIT_READ (root)")
	}
	m, err := JoinMulticast(1 << 20)
	if err != nil {
		t.Skipf("no audit multicast group here: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			if err := m.Receive(func(uint16, []byte) {}); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // let it block in the poller
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive after Close: %v, want ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Receive still blocked after Close")
	}
}
