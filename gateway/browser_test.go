package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// TestBrowser opens the gateway in a real headless Chromium, driven over
// the DevTools protocol, and checks what a person sees: a directory
// listing with its entries, links that lead to the files, the files'
// text, a site's index.html.
func TestBrowser(t *testing.T) {
	bin := findChromium()
	if bin == "" {
		t.Skip("no chromium binary found (looked for chromium, chromium-browser, google-chrome on PATH and /usr/bin/chromium): install Debian's chromium to run the browser test")
	}
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	b := startBrowser(t, bin)
	root := srv.URL + "/ipfs/" + s.root.String()

	// A directory asked for without its slash: the browser follows the
	// redirect and shows the listing.
	b.navigate(root + "/docs")
	if loc := b.eval(`location.pathname`); !strings.HasSuffix(loc, "/docs/") {
		t.Fatalf("the listing's address is %q, want it to end in /docs/", loc)
	}
	text := b.eval(`document.body.innerText`)
	for _, want := range []string{"Index of", "a.md", spacedName, nfcName, "data.json", "plain", "5 entries"} {
		if !strings.Contains(text, want) {
			t.Errorf("the listing does not show %q; it shows:\n%s", want, text)
		}
	}
	if res := b.eval(`JSON.stringify(performance.getEntriesByType("resource").map(e => e.name))`); res != "[]" {
		t.Errorf("the listing loaded resources %s, want none", res)
	}
	if bg := b.eval(`getComputedStyle(document.querySelector("header")).borderBottomStyle`); bg != "solid" {
		t.Errorf("the listing's style sheet is not applied (header border %q)", bg)
	}

	// Click the entry with spaces, '&' and '<' in its name: its text shows.
	b.click(`Array.from(document.querySelectorAll("td.name a")).find(a => a.textContent === ` + jsString(spacedName) + `)`)
	if got := strings.TrimSpace(b.eval(`document.body.innerText`)); got != "spaced file" {
		t.Fatalf("after clicking %q the page shows %q", spacedName, got)
	}
	if loc := b.eval(`decodeURIComponent(location.pathname)`); !strings.HasSuffix(loc, "/docs/"+spacedName) {
		t.Fatalf("the file's address is %q", loc)
	}

	// Back to the listing through the parent link of a sub-listing, then
	// into the top directory and a file there.
	b.navigate(root + "/docs/")
	b.click(`document.querySelector('a[title="parent directory"]')`)
	if loc := b.eval(`location.pathname`); loc != "/ipfs/"+s.root.String()+"/" {
		t.Fatalf("the parent link led to %q", loc)
	}
	top := b.eval(`document.body.innerText`)
	for _, want := range []string{"hello.txt", "big.bin", "docs", "site", "many"} {
		if !strings.Contains(top, want) {
			t.Errorf("the top listing does not show %q", want)
		}
	}
	b.click(`Array.from(document.querySelectorAll("td.name a")).find(a => a.textContent === "hello.txt")`)
	if got := strings.TrimSpace(b.eval(`document.body.innerText`)); got != strings.TrimSpace(helloText) {
		t.Fatalf("hello.txt shows %q", got)
	}

	// Clicking a directory entry (a link without the slash) ends in its listing.
	b.navigate(root + "/")
	b.click(`Array.from(document.querySelectorAll("td.name a")).find(a => a.textContent === "docs")`)
	if loc := b.eval(`location.pathname`); !strings.HasSuffix(loc, "/docs/") {
		t.Fatalf("clicking docs led to %q", loc)
	}

	// A site: its index.html, rendered.
	b.navigate(root + "/site/")
	if got := b.eval(`document.body.innerText`); !strings.Contains(got, "Welcome to the site") {
		t.Fatalf("the site shows %q", got)
	}

	// A HAMT-sharded directory lists every entry.
	b.navigate(root + "/many/")
	if n := b.eval(`String(document.querySelectorAll("td.name a").length)`); n != fmt.Sprint(hamtEntries+1) { // + ".."
		t.Fatalf("the HAMT listing shows %s links, want %d", n, hamtEntries+1)
	}
	b.click(`Array.from(document.querySelectorAll("td.name a")).find(a => a.textContent === ` + jsString(s.hamtNames[2024]) + `)`)
	if got := strings.TrimSpace(b.eval(`document.body.innerText`)); got != "one of many" {
		t.Fatalf("a file of the HAMT shows %q", got)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// browser is a headless Chromium and one page of it, driven over the
// DevTools protocol.
type browser struct {
	t    *testing.T
	conn *websocket.Conn

	mu      sync.Mutex // guards nextID, waiting
	nextID  int
	waiting map[int]chan cdpMessage
	events  chan cdpMessage
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// browserWait bounds every wait on the browser.
const browserWait = 15 * time.Second

func startBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	cmd := exec.Command(bin, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		// The launcher is a shell script: end the process group it leads.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	// Chromium prints its DevTools address on stderr.
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-time.After(browserWait):
		t.Fatal("chromium did not print its DevTools address in time")
	}
	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatal(err)
	}
	pageWS := pageTarget(t, "http://"+u.Host)
	conn, err := websocket.Dial(pageWS, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatalf("connecting to the page: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	b := &browser{t: t, conn: conn, waiting: map[int]chan cdpMessage{}, events: make(chan cdpMessage, 64)}
	go b.readLoop()
	b.call("Page.enable", nil)
	b.call("Runtime.enable", nil)
	return b
}

// pageTarget returns the DevTools address of the browser's open page.
func pageTarget(t *testing.T, base string) string {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		resp, err := http.Get(base + "/json/list")
		if err == nil {
			var targets []struct {
				Type string `json:"type"`
				WS   string `json:"webSocketDebuggerUrl"`
			}
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
			for _, tg := range targets {
				if tg.Type == "page" && tg.WS != "" {
					return tg.WS
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium has no page to drive: %v", err)
		}
		// The first page is being created: ask again.
		req, _ := http.NewRequest(http.MethodPut, base+"/json/new?about:blank", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

func (b *browser) readLoop() {
	for {
		var m cdpMessage
		if err := websocket.JSON.Receive(b.conn, &m); err != nil {
			close(b.events)
			return
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.waiting[m.ID]
			delete(b.waiting, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		select {
		case b.events <- m:
		default: // nobody waits for this one
		}
	}
}

// call sends a DevTools command and returns its result.
func (b *browser) call(method string, params any) json.RawMessage {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if err := websocket.JSON.Send(b.conn, msg); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			b.t.Fatalf("%s: %s", method, m.Error.Message)
		}
		return m.Result
	case <-time.After(browserWait):
		b.t.Fatalf("%s: no answer from chromium", method)
	}
	return nil
}

// eval evaluates a JavaScript expression in the page and returns its
// value as a string.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	res := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		b.t.Fatal(err)
	}
	if r.Exception != nil {
		b.t.Fatalf("evaluating %s: %s", expr, r.Exception.Text)
	}
	s, ok := r.Result.Value.(string)
	if !ok {
		b.t.Fatalf("evaluating %s gave %v, not a string", expr, r.Result.Value)
	}
	return s
}

// loaded runs act, which starts a navigation, and waits until the new
// page has loaded.
func (b *browser) loaded(act func()) {
	b.t.Helper()
drain: // forget earlier events
	for {
		select {
		case _, ok := <-b.events:
			if !ok {
				b.t.Fatal("chromium went away")
			}
		default:
			break drain
		}
	}
	act()
	timeout := time.After(browserWait)
	for {
		select {
		case m, ok := <-b.events:
			if !ok {
				b.t.Fatal("chromium went away")
			}
			if m.Method == "Page.loadEventFired" {
				return
			}
		case <-timeout:
			b.t.Fatal("the page did not load in time")
		}
	}
}

func (b *browser) navigate(u string) {
	b.t.Helper()
	b.loaded(func() { b.call("Page.navigate", map[string]any{"url": u}) })
}

// click clicks the element a JavaScript expression finds.
func (b *browser) click(elementExpr string) {
	b.t.Helper()
	if found := b.eval(`String(!!(` + elementExpr + `))`); found != "true" {
		b.t.Fatalf("the page has no element %s; it shows:\n%s", elementExpr, b.eval(`document.body.innerText`))
	}
	b.loaded(func() { b.eval(`(` + elementExpr + `).click(), "clicked"`) })
}
