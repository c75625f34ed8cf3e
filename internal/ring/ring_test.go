package ring

import "testing"

func TestRing(t *testing.T) {
	var r Ring[int]
	for i := 0; i < 100; i++ {
		r.Push(i)
	}
	if got := r.RemoveAt(10); got != 10 {
		t.Fatalf("RemoveAt(10) = %d", got)
	}
	want := 0
	for r.Len() > 0 {
		v, _ := r.Pop()
		if want == 10 {
			want++
		}
		if v != want {
			t.Fatalf("Pop = %d, want %d", v, want)
		}
		want++
	}
	if _, ok := r.Pop(); ok {
		t.Fatal("Pop on empty ring succeeded")
	}
	// wrap-around
	for i := 0; i < 3; i++ {
		r.Push(i)
	}
	r.Pop()
	r.Pop()
	for i := 3; i < 10; i++ {
		r.Push(i)
	}
	for want := 2; want < 10; want++ {
		if v, _ := r.Peek(); v != want {
			t.Fatalf("Peek = %d, want %d", v, want)
		}
		r.Pop()
	}
}
