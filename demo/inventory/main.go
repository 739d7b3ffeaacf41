// The shop's inventory (Go, net/http, no OpenTelemetry code): stock levels. Traced by the node agent with
// eBPF. It is a leaf on purpose: under this kernel's lockdown an eBPF tracer cannot write trace context
// into the outgoing requests of a Go program, so a Go service in the middle would cut the trace in two.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

var stock = map[string]int{"tea": 120, "mug": 14, "pot": 0}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	http.HandleFunc("/stock", func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		out := map[string]int{}
		for _, item := range strings.Split(r.URL.Query().Get("items"), ",") {
			if item != "" {
				out[item] = stock[item]
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
		log.Printf("inventory GET /stock 200 %d items in %d ms", len(out), time.Since(started).Milliseconds())
	})
	log.Printf("inventory listening on %s", port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
