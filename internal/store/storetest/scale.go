package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/store"
)

// ScaleRotations is how many rotations RotationScale makes: the
// TOKENGATE_SCALE_ROTATIONS environment variable (say 1000000 for the full
// size of issue 18), else 10,000, or 2,000 under -short.
func ScaleRotations() int {
	if n, err := strconv.Atoi(os.Getenv("TOKENGATE_SCALE_ROTATIONS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 2000
	}
	return 10000
}

// RotationScale shows that a store grows with sessions, not with
// rotations: it creates families families, rotates them rotations times
// in all (each family on its own goroutine, through the refresh path the
// core takes: GetFamily, DecideRefresh, AdvanceFamily, without the
// cryptography), and checks with count, which returns the backend's
// family and token records, that the store holds as many records after
// the rotations as before them: one per family, none per rotation.
func RotationScale(t *testing.T, s store.Store, families, rotations int, count func() (families, tokens int)) {
	t.Helper()
	c := context.Background()
	now := at(0)
	for i := range families {
		id := fmt.Sprintf("scale%04d", i)
		f := store.Family{ID: id, Subject: "alice", ClientID: "web", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
		must(t, s.CreateFamily(c, f, store.RefreshToken{Hash: scaleHash(id, 0), ExpiresAt: now.Add(time.Hour)}))
	}
	f0, t0 := count()
	if f0 != families || t0 != 0 {
		t.Fatalf("%d families and %d token records before rotating, want %d and 0", f0, t0, families)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, families)
	for i := range families {
		id := fmt.Sprintf("scale%04d", i)
		per := rotations / families
		if i < rotations%families {
			per++
		}
		wg.Go(func() {
			for gen := int64(0); gen < int64(per); gen++ {
				fam, err := s.GetFamily(c, id)
				if err != nil {
					errs <- err
					return
				}
				fam.SubjectActive = true
				tok := store.RefreshToken{Hash: scaleHash(id, gen), FamilyID: id, Generation: gen, ExpiresAt: now.Add(time.Hour)}
				if out := oauth.DecideRefresh(oauth.RefreshInput{Token: tok, Family: fam, ClientID: "web", Rotate: true, Now: now}); out != oauth.RefreshRotate {
					errs <- fmt.Errorf("family %s generation %d: %v", id, gen, out)
					return
				}
				if err := s.AdvanceFamily(c, store.Advance{FamilyID: id, Generation: gen, NewHash: scaleHash(id, gen+1), Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := errors.Join(func() (out []error) {
		for err := range errs {
			out = append(out, err)
		}
		return out
	}()...); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	f1, t1 := count()
	t.Logf("%d rotations over %d families in %v (%.0f/s): %d family and %d token records before, %d and %d after",
		rotations, families, elapsed.Round(time.Millisecond), float64(rotations)/elapsed.Seconds(), f0, t0, f1, t1)
	if f1 != families || t1 != 0 {
		t.Fatalf("after %d rotations: %d families and %d token records, want %d and 0", rotations, f1, t1, families)
	}
	// Every family is where its rotations took it.
	for i := range families {
		id := fmt.Sprintf("scale%04d", i)
		per := int64(rotations / families)
		if i < rotations%families {
			per++
		}
		fam, err := s.GetFamily(c, id)
		must(t, err)
		if fam.Generation != per || string(fam.Hash) != string(scaleHash(id, per)) {
			t.Fatalf("family %s at generation %d, want %d", id, fam.Generation, per)
		}
	}
}

func scaleHash(family string, gen int64) []byte {
	return hash(family + "/" + strconv.FormatInt(gen, 10))
}
