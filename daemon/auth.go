package daemon

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the file, next to the API address file, holding the secret
// a client must present. Only the repository's owner can read it (0600), so
// other local users and web pages cannot drive the API.
const TokenFile = "api.token"

// TokenHeader carries the token.
const TokenHeader = "X-Node-Token"

// ReadToken returns the token of the daemon serving the repository at root.
func ReadToken(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, TokenFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func newToken(root string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	path := filepath.Join(root, TokenFile)
	os.Remove(path)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the API token file: %w", err)
	}
	return tok, nil
}

// protect guards the API:
//   - the Host header must name a loopback address or localhost, so a web
//     page that rebinds its DNS name to 127.0.0.1 is refused;
//   - requests a browser marks as coming from a page (Origin, or
//     Sec-Fetch-Site other than none) are refused;
//   - everything but the metrics needs the token from TokenFile.
func protect(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "the API answers only to requests for a loopback address", http.StatusForbidden)
			return
		}
		if r.Header.Get("Origin") != "" || (r.Header.Get("Sec-Fetch-Site") != "" && r.Header.Get("Sec-Fetch-Site") != "none") {
			http.Error(w, "the API does not answer requests from web pages", http.StatusForbidden)
			return
		}
		if r.URL.Path != "/debug/metrics/prometheus" &&
			subtle.ConstantTimeCompare([]byte(r.Header.Get(TokenHeader)), []byte(token)) != 1 {
			http.Error(w, "missing or wrong API token (it is in $NODE_PATH/"+TokenFile+")", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
