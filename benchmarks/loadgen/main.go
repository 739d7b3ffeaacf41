// Keep-alive HTTP load: -c workers share -n GET requests to -url; prints one JSON line of figures.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "target URL")
	n := flag.Int("n", 10000, "requests")
	c := flag.Int("c", 1, "workers")
	flag.Parse()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c}}
	var next int64
	lat := make([]time.Duration, *n)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1) - 1
				if i >= int64(*n) {
					return
				}
				t := time.Now()
				resp, err := client.Get(*url)
				if err != nil {
					os.Exit(1)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	json.NewEncoder(os.Stdout).Encode(map[string]float64{
		"mean_us": float64(sum.Microseconds()) / float64(*n),
		"p50_us":  float64(lat[*n/2].Microseconds()),
		"p99_us":  float64(lat[*n*99/100].Microseconds()),
		"rps":     float64(*n) / elapsed.Seconds(),
	})
}
