package namesys

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"node/ipns"
)

// dnsServer is a real DNS server on loopback (UDP and TCP on one port)
// answering TXT questions from a zone the test edits.
type dnsServer struct {
	addr string

	mu      sync.Mutex                 // guards zone and queries
	zone    map[string]dnsAnswer       // fqdn (lower case) -> answer
	queries map[string]map[string]bool // fqdn -> the networks it was asked over
}

type dnsAnswer struct {
	txts  [][]string // each TXT record's strings
	ttl   uint32
	rcode int    // dns.RcodeSuccess unless set
	owner string // the records' owner name; the question's unless set
}

func newDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	s := &dnsServer{zone: map[string]dnsAnswer{}, queries: map[string]map[string]bool{}}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 { // UDP and TCP on the same port: retry if TCP's is taken
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return s
}

func (s *dnsServer) set(fqdn string, a dnsAnswer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[strings.ToLower(fqdn)] = a
}

func (s *dnsServer) askedOver(fqdn, network string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[strings.ToLower(fqdn)][network]
}

func (s *dnsServer) serve(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	qn := strings.ToLower(q.Question[0].Name)
	network := w.RemoteAddr().Network()
	s.mu.Lock()
	if s.queries[qn] == nil {
		s.queries[qn] = map[string]bool{}
	}
	s.queries[qn][network] = true
	a, ok := s.zone[qn]
	s.mu.Unlock()
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
	case a.rcode != 0:
		m.Rcode = a.rcode
	case q.Question[0].Qtype == dns.TypeTXT:
		owner := q.Question[0].Name
		if a.owner != "" {
			owner = a.owner
		}
		for _, txt := range a.txts {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: a.ttl},
				Txt: txt,
			})
		}
	}
	if network == "udp" {
		m.Truncate(512) // sets TC when the answer does not fit, as real servers do
	}
	w.WriteMsg(m)
}

// TestDNSLink resolves domains through a DNS server on loopback.
func TestDNSLink(t *testing.T) {
	ctx := testCtx(t)
	srv := newDNSServer(t)
	clk := newClock()
	tr := newRepo(t)
	ns := newNS(t, tr, nil, clk, func(c *Config) { c.DNSResolver = srv.addr })

	site := testPath("site")
	srv.set("_dnslink.example.org.", dnsAnswer{txts: [][]string{{"v=spf1 -all"}, {"dnslink=" + site}}, ttl: 30})
	res, err := ns.Resolve(ctx, "example.org", ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != site || res.TTL != 30*time.Second {
		t.Fatalf("example.org: %+v, want %s with the DNS TTL 30s", res, site)
	}
	if got, _, err := ns.ResolvePath(ctx, "/ipns/Example.ORG./a/b"); err != nil || got != site+"/a/b" {
		t.Fatalf("ResolvePath: %q, %v", got, err)
	}

	// Cached for the DNS TTL; NoCache asks again.
	site2 := testPath("site 2")
	srv.set("_dnslink.example.org.", dnsAnswer{txts: [][]string{{"dnslink=" + site2}}, ttl: 30})
	if res, _ := ns.Resolve(ctx, "example.org", ResolveOptions{}); res.Path != site {
		t.Fatalf("within the DNS TTL: %q, want the cached %s", res.Path, site)
	}
	clk.Add(30 * time.Second)
	if res, _ := ns.Resolve(ctx, "example.org", ResolveOptions{}); res.Path != site2 {
		t.Fatalf("after the DNS TTL: %q, want %s", res.Path, site2)
	}

	// dnslink=/ipns/<name>: followed to the name's record (here local).
	tr.addKey(t, "blog", nil)
	name, _, err := ns.Publish(ctx, "blog", site+"/blog", PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv.set("_dnslink.blog.example.org.", dnsAnswer{txts: [][]string{{"dnslink=/ipns/" + name.String()}}, ttl: 60})
	if res, err := ns.Resolve(ctx, "blog.example.org", ResolveOptions{}); err != nil || res.Path != site+"/blog" {
		t.Fatalf("DNSLink to an IPNS name: %+v, %v", res, err)
	}
	if res, err := ns.Resolve(ctx, "blog.example.org", ResolveOptions{Depth: 1}); err != nil || res.Path != "/ipns/"+name.String() {
		t.Fatalf("one step: %+v, %v", res, err)
	}
	// and a DNSLink to another domain.
	srv.set("_dnslink.www.example.org.", dnsAnswer{txts: [][]string{{"dnslink=/ipns/blog.example.org/2024"}}, ttl: 10})
	if res, err := ns.Resolve(ctx, "www.example.org", ResolveOptions{}); err != nil || res.Path != site+"/blog/2024" || res.TTL != 10*time.Second {
		t.Fatalf("DNSLink to a DNSLink: %+v, %v", res, err)
	}

	// A TXT record split into several strings is read joined.
	srv.set("_dnslink.split.example.org.", dnsAnswer{txts: [][]string{{"dnslink=" + site[:20], site[20:]}}, ttl: 60})
	if res, err := ns.Resolve(ctx, "split.example.org", ResolveOptions{}); err != nil || res.Path != site {
		t.Fatalf("split TXT: %+v, %v", res, err)
	}

	// An answer too big for UDP comes truncated; the lookup retries over TCP.
	var big [][]string
	for range 12 {
		big = append(big, []string{"filler " + strings.Repeat("x", 200)})
	}
	big = append(big, []string{"dnslink=" + site2})
	srv.set("_dnslink.big.example.org.", dnsAnswer{txts: big, ttl: 60})
	if res, err := ns.Resolve(ctx, "big.example.org", ResolveOptions{}); err != nil || res.Path != site2 {
		t.Fatalf("large answer: %+v, %v", res, err)
	}
	if !srv.askedOver("_dnslink.big.example.org.", "tcp") {
		t.Fatal("the truncated answer was not asked again over TCP")
	}

	// Failures.
	srv.set("_dnslink.two.example.org.", dnsAnswer{txts: [][]string{{"dnslink=" + site}, {"dnslink=" + site2}}, ttl: 60})
	srv.set("_dnslink.same.example.org.", dnsAnswer{txts: [][]string{{"dnslink=" + site}, {"dnslink=" + site + "/"}}, ttl: 60})
	srv.set("_dnslink.spf.example.org.", dnsAnswer{txts: [][]string{{"v=spf1 -all"}}, ttl: 60})
	srv.set("_dnslink.bad.example.org.", dnsAnswer{txts: [][]string{{"dnslink=/ipfs/not-a-cid"}}, ttl: 60})
	srv.set("_dnslink.fail.example.org.", dnsAnswer{rcode: dns.RcodeServerFailure})
	if res, err := ns.Resolve(ctx, "same.example.org", ResolveOptions{}); err != nil || res.Path != site {
		t.Fatalf("two records with the same path: %+v, %v", res, err)
	}
	for domain, want := range map[string]error{
		"two.example.org":     ErrMultipleDNSLink,
		"spf.example.org":     ipns.ErrNotFound,
		"bad.example.org":     ipns.ErrNotFound,
		"missing.example.org": ipns.ErrNotFound,
		"fail.example.org":    ErrDNS,
		"no_such-.org":        ipns.ErrInvalidName,
	} {
		_, err := ns.Resolve(ctx, domain, ResolveOptions{})
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", domain, err, want)
		}
	}
	if _, err := ns.Record(ctx, "example.org"); !errors.Is(err, ipns.ErrInvalidName) {
		t.Errorf("Record of a domain: err = %v, want ErrInvalidName", err)
	}
}

// TestDNSServerUnreachable: a resolver that answers nothing gives ErrDNS,
// or the context's deadline when it stays silent.
// TestDNSLinkIgnoresOtherNames: a TXT record of another name in the
// answer (a confused or hostile server) is not taken as the domain's.
func TestDNSLinkIgnoresOtherNames(t *testing.T) {
	ctx := testCtx(t)
	srv := newDNSServer(t)
	tr := newRepo(t)
	ns := newNS(t, tr, nil, newClock(), func(c *Config) { c.DNSResolver = srv.addr })
	srv.set("_dnslink.victim.org.", dnsAnswer{txts: [][]string{{"dnslink=" + testPath("evil")}}, ttl: 30, owner: "_dnslink.elsewhere.org."})
	if res, err := ns.Resolve(ctx, "victim.org", ResolveOptions{}); err == nil {
		t.Fatalf("victim.org resolved to %s through another name's record", res.Path)
	}
}

func TestDNSServerUnreachable(t *testing.T) {
	// A closed port: the kernel refuses at once.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()
	ns := newNS(t, newRepo(t), nil, nil, func(c *Config) { c.DNSResolver = closed })
	if _, err := ns.Resolve(testCtx(t), "example.org", ResolveOptions{}); !errors.Is(err, ErrDNS) {
		t.Fatalf("refused: err = %v, want ErrDNS", err)
	}

	// A silent server: the caller's deadline passes through.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ns = newNS(t, newRepo(t), nil, nil, func(c *Config) { c.DNSResolver = silent.LocalAddr().String() })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := ns.Resolve(ctx, "example.org", ResolveOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent: err = %v, want context.DeadlineExceeded", err)
	}
}

func TestNewRefusesBadDNSResolver(t *testing.T) {
	_, err := New(Config{Store: newMemStore(), DNSResolver: "127.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Fatalf("err = %v, want a host:port complaint", err)
	}
}

func TestParseDNSLink(t *testing.T) {
	a, b := testPath("a"), testPath("b")
	bare := strings.TrimPrefix(a, "/ipfs/")
	for _, tc := range []struct {
		txts []string
		want string
		err  error
	}{
		{[]string{"dnslink=" + a}, a, nil},
		{[]string{"dnslink= " + a + " "}, a, nil},
		{[]string{"dnslink=" + bare}, a, nil}, // legacy: a bare CID
		{[]string{"dnslink=" + a + "/x/"}, a + "/x", nil},
		{[]string{"dnslink=/ipns/example.com/x"}, "/ipns/example.com/x", nil},
		{[]string{"foo", "dnslink=" + a, "dnslink=" + a}, a, nil},
		{[]string{"dnslink=" + a, "dnslink=" + b}, "", ErrMultipleDNSLink},
		{nil, "", ipns.ErrNotFound},
		{[]string{"DNSLINK=" + a}, "", ipns.ErrNotFound},
		{[]string{"dnslink=/ipfs/"}, "", ipns.ErrNotFound},
		{[]string{"dnslink=/ipns/bad name"}, "", ipns.ErrNotFound},
		{[]string{"dnslink=/ipfs/" + bare + "/../x"}, "", ipns.ErrNotFound},
		{[]string{"dnslink=/swarm/abc"}, "", ipns.ErrNotFound},
	} {
		got, err := parseDNSLink(tc.txts)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("parseDNSLink(%q) = %q, %v; want %q, %v", tc.txts, got, err, tc.want, tc.err)
		}
	}
}

func TestDomainName(t *testing.T) {
	for in, want := range map[string]string{
		"example.org":                          "example.org",
		"Example.ORG.":                         "example.org",
		"a-b.c_d.example":                      "a-b.c_d.example",
		"xn--bcher-kva.de":                     "xn--bcher-kva.de",
		"localhost":                            "",
		"-a.org":                               "",
		"a-.org":                               "",
		"a..org":                               "",
		".org":                                 "",
		"exa mple.org":                         "",
		"k51qzi5uqu5dlvj2b":                    "",
		strings.Repeat("a", 64) + ".org":       "",
		strings.Repeat("a.", 127) + "orgs":     "",
		strings.Repeat("abc.", 62) + "example": "",
	} {
		got, ok := domainName(in)
		if got != want || ok != (want != "") {
			t.Errorf("domainName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
