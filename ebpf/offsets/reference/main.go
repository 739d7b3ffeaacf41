// Reference program for the offset table generator: it links net/http's server and client, so the
// linker emits DWARF for every struct the tracer reads. It is compiled, never run.
package main

import (
	"net/http"
	"os"
)

func main() {
	if len(os.Args) > 2 {
		_, _ = http.Get(os.Args[1])
	}
	_ = http.ListenAndServe("127.0.0.1:0", http.NotFoundHandler())
}
