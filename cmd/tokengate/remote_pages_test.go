package main

import (
	"slices"
	"testing"

	"github.com/tokengate/tokengate/client/admin"
)

func TestAllPagesFollowsCursorsAndRefusesALoop(t *testing.T) {
	next := func(s string) *string { return &s }
	pages := map[string]*admin.Page[int]{
		"":  {Items: []int{1, 2}, NextCursor: next("b")},
		"b": {Items: []int{3}, NextCursor: nil},
	}
	got, err := allPages(func(o admin.ListOptions) (*admin.Page[int], error) { return pages[o.Cursor], nil })
	if err != nil || !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("got %v, %v", got, err)
	}
	calls := 0
	_, err = allPages(func(o admin.ListOptions) (*admin.Page[int], error) {
		calls++
		return &admin.Page[int]{Items: []int{calls}, NextCursor: next("same")}, nil
	})
	if err == nil || calls != 2 {
		t.Fatalf("a cursor that never moves: %d calls, err %v", calls, err)
	}
}
