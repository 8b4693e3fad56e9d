package evidence

import (
	"time"

	"github.com/sysdiag/sysdiag/audit"
)

// held is a violation the Merger holds: in the heap of pending violations, in the list of its record
// key, and in the tree of its call.
type held struct {
	v    *Violation
	host hostID // v.Host(), as sameHost compares it
	order
	sameKey *held // the next to arrive of the held violations with v's record key

	// A treap by (time, seq): a binary search tree in that order, and a heap by prio.
	left, right *held
	prio        uint64
}

// newHeld holds v, the seq-th to arrive; prio is its priority in a tree (random: records' times may
// be chosen to unbalance a tree of known priorities).
func newHeld(v *Violation, h hostID, seq, prio uint64) *held {
	return &held{v: v, host: h, order: order{instantOf(v.Time), seq}, prio: prio}
}

// join adds another source's copy of the record.
func (h *held) join(r audit.Record) {
	addSource(h.v, r.Source)
	if h.v.Node == "" && r.Node != "" || h.v.Machine == "" && r.Machine != "" {
		fillHost(h.v, r)
		h.host = hostOf(h.v.Host())
	}
}

// order is where a violation is handed on: by time, then arrival.
type order struct {
	at  instant // the violation's time
	seq uint64  // its arrival: ties in time are handed on in this order
}

func (a order) before(b order) bool {
	if a.at != b.at {
		return a.at.before(b.at)
	}
	return a.seq < b.seq
}

// instant is a time as seconds and nanoseconds since the epoch: ordered as the times.
type instant struct {
	sec  int64
	nsec int64
}

func instantOf(t time.Time) instant { return instant{t.Unix(), int64(t.Nanosecond())} }

func (a instant) before(b instant) bool { return a.sec < b.sec || a.sec == b.sec && a.nsec < b.nsec }

// heldHeap is a container/heap of violations, the oldest (then the first to arrive) on top. Push takes
// and Pop returns a *held; the order is copied in, to be compared without a trip to each.
type heldHeap []heapItem

type heapItem struct {
	order
	h *held
}

func (q heldHeap) Len() int           { return len(q) }
func (q heldHeap) Less(i, j int) bool { return q[i].before(q[j].order) }
func (q heldHeap) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *heldHeap) Push(x any)        { h := x.(*held); *q = append(*q, heapItem{h.order, h}) }
func (q *heldHeap) Pop() any {
	old := *q
	h := old[len(old)-1].h
	old[len(old)-1] = heapItem{}
	*q = old[:len(old)-1]
	return h
}

// insert adds n to the tree t and returns the new root.
func (t *held) insert(n *held) *held {
	l, r := t.split(n)
	return join(join(l, n), r)
}

// split parts t into the nodes before n and the rest.
func (t *held) split(n *held) (l, r *held) {
	if t == nil {
		return nil, nil
	}
	if t.before(n.order) {
		t.right, r = t.right.split(n)
		return t, r
	}
	l, t.left = t.left.split(n)
	return l, t
}

// join merges two trees, every node of l before every node of r.
func join(l, r *held) *held {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.prio > r.prio:
		l.right = join(l.right, r)
		return l
	default:
		r.left = join(l, r.left)
		return r
	}
}

// remove drops n from the tree t and returns the new root (nil when empty).
func (t *held) remove(n *held) *held {
	switch {
	case t == nil:
		return nil
	case t == n:
		r := join(t.left, t.right)
		t.left, t.right = nil, nil
		return r
	case n.before(t.order):
		t.left = t.left.remove(n)
	default:
		t.right = t.right.remove(n)
	}
	return t
}

// first returns the first node of t, in order, with a time in (after, before) that ok accepts; nil
// when ok refused maxHosts of them.
func (t *held) first(after, before instant, ok func(*held) bool) *held {
	tries := maxHosts
	var walk func(t *held) (found *held, done bool)
	walk = func(t *held) (*held, bool) {
		for t != nil {
			if !after.before(t.at) {
				t = t.right // t and its left are too old
				continue
			}
			if f, done := walk(t.left); done {
				return f, true
			}
			if !t.at.before(before) {
				return nil, true // t and its right are too new
			}
			if ok(t) {
				return t, true
			}
			if tries--; tries == 0 {
				return nil, true
			}
			t = t.right
		}
		return nil, false
	}
	f, _ := walk(t)
	return f
}
