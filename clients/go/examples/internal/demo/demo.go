// Package demo serves the stand-in upstreams the examples use when no URL is given: the seed
// article called httpbin.org and api.example.com, which the examples replace with a loopback
// server in the example's own process (so the streamgate server must run with
// --allow-private-networks).
package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// Upstream serves
//   - /delay/{seconds}: waits that long (at most 10 s), then answers a small JSON body, as
//     httpbin's /delay does;
//   - /users?page=N&size=M: `users` users, page-number style, an empty array past the end.
func Upstream(users int) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/delay/{seconds}", func(w http.ResponseWriter, r *http.Request) {
		secs, err := strconv.ParseFloat(r.PathValue("seconds"), 64)
		if err != nil || secs < 0 || secs > 10 {
			http.Error(w, "seconds must be a number from 0 to 10", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(time.Duration(secs * float64(time.Second))):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"url": r.URL.String(), "delay": secs})
	})
	mux.HandleFunc("/users", func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		out := []map[string]any{}
		for id := (page-1)*size + 1; page > 0 && size > 0 && id <= min(page*size, users); id++ {
			out = append(out, map[string]any{"id": id, "name": fmt.Sprintf("user-%03d", id)})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return httptest.NewServer(mux)
}

// URLs is a repeatable string flag.
type URLs []string

func (u *URLs) String() string { return strings.Join(*u, ",") }

// Set adds one value.
func (u *URLs) Set(v string) error {
	*u = append(*u, v)
	return nil
}
