package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// result is one scenario's figures.
type result struct {
	Name     string
	Requests int64
	Errors   int64
	Duration time.Duration
	P50, P99 time.Duration
}

// RPS is requests per second of successful requests.
func (r result) RPS() float64 { return float64(r.Requests) / r.Duration.Seconds() }

// newHTTPClient makes a keep-alive client with one connection per worker.
func newHTTPClient(workers int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        workers * 2,
		MaxIdleConnsPerHost: workers * 2,
		MaxConnsPerHost:     workers * 2,
		IdleConnTimeout:     30 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// requestFunc makes one request for worker w; ok reports a success.
// Workers keep their own state (a refresh chain) in the closure made by
// the scenario's setup.
type requestFunc func(ctx context.Context, c *http.Client) (ok bool)

// run drives workers for warmup+d and measures the last d. Latencies of
// at most maxSamples requests per worker are kept for percentiles, so
// memory stays bounded.
func run(name string, workers int, warmup, d time.Duration, mk func(w int) requestFunc) result {
	c := newHTTPClient(workers)
	defer c.CloseIdleConnections()
	const maxSamples = 200000
	var (
		measuring atomic.Bool
		okCount   atomic.Int64
		errCount  atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex
		lat       []time.Duration
	)
	ctx, cancel := context.WithTimeout(context.Background(), warmup+d+5*time.Second)
	defer cancel()
	stop := make(chan struct{})
	for w := 0; w < workers; w++ {
		fn := mk(w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for {
				select {
				case <-stop:
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
					return
				default:
				}
				start := time.Now()
				ok := fn(ctx, c)
				if !measuring.Load() {
					continue
				}
				if ok {
					okCount.Add(1)
					if len(local) < maxSamples/workers {
						local = append(local, time.Since(start))
					}
				} else {
					errCount.Add(1)
				}
			}
		}()
	}
	time.Sleep(warmup)
	measuring.Store(true)
	begin := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(begin)
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	r := result{Name: name, Requests: okCount.Load(), Errors: errCount.Load(), Duration: elapsed}
	if len(lat) > 0 {
		r.P50 = lat[len(lat)/2]
		r.P99 = lat[len(lat)*99/100]
	}
	return r
}

// post sends a form POST and reports a 200.
func post(ctx context.Context, c *http.Client, url, body string, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// get sends a GET and reports the status.
func get(ctx context.Context, c *http.Client, url string, hdr map[string]string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (r result) row() string {
	return fmt.Sprintf("| %s | %.0f | %s | %s | %d |", r.Name, r.RPS(), fmtDur(r.P50), fmtDur(r.P99), r.Errors)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
}
