package namesys

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"node/ipns"
)

const (
	// dnslinkPrefix starts a DNSLink TXT record's text.
	dnslinkPrefix = "dnslink="
	// dnslinkLabel is the label the TXT record lives under:
	// _dnslink.example.org for /ipns/example.org.
	dnslinkLabel = "_dnslink."
	// resolvConf lists the system's DNS servers.
	resolvConf = "/etc/resolv.conf"
	// fallbackDNSTTL is how long an answer from the Go resolver (used
	// when resolv.conf cannot be read), which does not tell TTLs, is
	// cached.
	fallbackDNSTTL = time.Minute
	// maxDNSLinkTXT bounds the text considered: a TXT record's strings
	// joined. DNS messages are at most 64 KiB anyway.
	maxDNSLinkTXT = 64 << 10
)

// domainName reports whether s is a DNS domain name that can carry a
// DNSLink: at least two labels of letters, digits, '-' and '_' (1 to 63
// bytes each, no '-' at either end), 253 bytes at most, an optional final
// dot. It returns the name in lower case without the final dot.
func domainName(s string) (string, bool) {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 || !strings.Contains(s, ".") {
		return "", false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return strings.ToLower(s), true
}

// parseDNSLink picks the DNSLink out of the texts of the TXT records at
// _dnslink.<domain>: those that start with "dnslink=" followed by an
// /ipfs/ or /ipns/ path (or, as old records have it, a bare CID). Other
// texts are ignored. It returns the path in canonical form. No DNSLink
// wraps ipns.ErrNotFound; several different ones is ErrMultipleDNSLink.
func parseDNSLink(txts []string) (string, error) {
	var found []string
	var firstBad error
	for _, t := range txts {
		rest, ok := strings.CutPrefix(t, dnslinkPrefix)
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if len(rest) > maxDNSLinkTXT {
			if firstBad == nil {
				firstBad = fmt.Errorf("a dnslink record of %d bytes", len(rest))
			}
			continue
		}
		p, err := normalizeValue(rest)
		if err != nil {
			if firstBad == nil {
				firstBad = fmt.Errorf("%q: %w", t, err)
			}
			continue
		}
		if !slices.Contains(found, p) {
			found = append(found, p)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		slices.Sort(found)
		return "", fmt.Errorf("%w: %s; keep one dnslink TXT record", ErrMultipleDNSLink, strings.Join(found, ", "))
	case firstBad != nil:
		return "", fmt.Errorf("%w: no valid dnslink=/ipfs/... or dnslink=/ipns/... TXT record (ignored %v)", ipns.ErrNotFound, firstBad)
	}
	return "", fmt.Errorf("%w: no dnslink=/ipfs/... or dnslink=/ipns/... TXT record", ipns.ErrNotFound)
}

// dnsResolver looks up DNSLink TXT records.
type dnsResolver struct {
	// servers are the "host:port" DNS servers asked, in order; empty
	// means the Go resolver (resolv.conf could not be read).
	servers []string
}

// newDNSResolver asks server ("host:port"), or when server is "" the
// servers of /etc/resolv.conf.
func newDNSResolver(server string) (*dnsResolver, error) {
	if server != "" {
		if _, _, err := net.SplitHostPort(server); err != nil {
			return nil, fmt.Errorf("namesys: DNS resolver %q is not host:port (e.g. 127.0.0.1:53): %w", server, err)
		}
		return &dnsResolver{servers: []string{server}}, nil
	}
	r := &dnsResolver{}
	if cc, err := dns.ClientConfigFromFile(resolvConf); err == nil {
		for _, s := range cc.Servers {
			r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
		}
	}
	return r, nil
}

// resolve returns what domain's DNSLink points at and the TTL of the
// answer.
func (r *dnsResolver) resolve(ctx context.Context, domain string) (string, time.Duration, error) {
	fqdn := dnslinkLabel + domain + "."
	txts, ttl, err := r.lookupTXT(ctx, fqdn)
	if err != nil {
		return "", 0, err
	}
	v, err := parseDNSLink(txts)
	if err != nil {
		return "", 0, fmt.Errorf("DNSLink at %s: %w", strings.TrimSuffix(fqdn, "."), err)
	}
	return v, ttl, nil
}

// Answers that there is nothing at a name: it does not exist (NXDOMAIN),
// or it has no TXT record.
var (
	errNoSuchDomain = errors.New("does not exist")
	errNoTXT        = errors.New("has no TXT record")
)

// lookupTXT returns the texts of the TXT records at fqdn (each record's
// strings joined, as RFC 7208 and DNSLink read them) and the smallest TTL
// among them. No record wraps ipns.ErrNotFound.
func (r *dnsResolver) lookupTXT(ctx context.Context, fqdn string) ([]string, time.Duration, error) {
	if len(r.servers) == 0 {
		txts, err := net.DefaultResolver.LookupTXT(ctx, fqdn)
		if err != nil {
			if cerr := ctxErr(ctx, "DNS lookup of "+fqdn); cerr != nil {
				return nil, 0, cerr
			}
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				return nil, 0, fmt.Errorf("%w: no TXT record at %s", ipns.ErrNotFound, fqdn)
			}
			return nil, 0, fmt.Errorf("%w: TXT %s: %w", ErrDNS, fqdn, err)
		}
		return txts, fallbackDNSTTL, nil
	}
	var lastErr error
	for _, server := range r.servers {
		txts, ttl, err := exchangeTXT(ctx, server, fqdn)
		switch {
		case err == nil:
			return txts, ttl, nil
		case errors.Is(err, errNoSuchDomain), errors.Is(err, errNoTXT):
			return nil, 0, fmt.Errorf("%w: %s %v (asked %s)", ipns.ErrNotFound, fqdn, err, server)
		}
		if cerr := ctxErr(ctx, "DNS lookup of "+fqdn); cerr != nil {
			return nil, 0, cerr
		}
		lastErr = err
	}
	return nil, 0, fmt.Errorf("%w: TXT %s: %w (set DNS.Resolver to a working server)", ErrDNS, fqdn, lastErr)
}

// exchangeTXT asks one server for the TXT records at fqdn, over UDP and
// again over TCP when the answer was truncated.
func exchangeTXT(ctx context.Context, server, fqdn string) ([]string, time.Duration, error) {
	q := new(dns.Msg)
	q.SetQuestion(fqdn, dns.TypeTXT)
	q.RecursionDesired = true
	c := &dns.Client{Net: "udp"}
	in, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("asking %s: %w", server, err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, 0, errNoSuchDomain
	default:
		return nil, 0, fmt.Errorf("%s answered %s", server, dns.RcodeToString[in.Rcode])
	}
	// Only records of the name asked for count, or of the names its
	// CNAMEs lead to: a server must not slip in another name's TXT.
	owners := map[string]bool{dns.CanonicalName(fqdn): true}
	for grew := true; grew; {
		grew = false
		for _, rr := range in.Answer {
			if c, ok := rr.(*dns.CNAME); ok && owners[dns.CanonicalName(c.Hdr.Name)] && !owners[dns.CanonicalName(c.Target)] {
				owners[dns.CanonicalName(c.Target)] = true
				grew = true
			}
		}
	}
	var txts []string
	ttl := uint32(0)
	for _, rr := range in.Answer {
		t, ok := rr.(*dns.TXT)
		if !ok || !owners[dns.CanonicalName(t.Hdr.Name)] {
			continue // CNAMEs on the way, or another name's record
		}
		if len(txts) == 0 || t.Hdr.Ttl < ttl {
			ttl = t.Hdr.Ttl
		}
		txts = append(txts, strings.Join(t.Txt, ""))
	}
	if len(txts) == 0 {
		return nil, 0, errNoTXT
	}
	return txts, time.Duration(ttl) * time.Second, nil
}
