// Package webhooktarget says which addresses a batch's webhook may not
// target: loopback, link-local, private, shared, reserved and multicast
// ranges, and the IPv6 ranges that carry an IPv4 address (NAT64, 6to4,
// Teredo, IPv4-compatible). The facade refuses a webhook URL whose host is
// such a literal address; the manager checks every address it connects to
// (controllers/webhook). config/admission/policies.yaml holds the same table
// for direct writes to the cluster.
package webhooktarget

import (
	"net/netip"
	"net/url"
	"strings"
)

// Range is a blocked address range and why.
type Range struct {
	Prefix netip.Prefix
	Why    string
}

// Ranges are the blocked ranges. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are judged by their IPv4 address.
var Ranges = []Range{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	// IPv4-compatible IPv6 (deprecated; holds :: and ::1 too).
	{netip.MustParsePrefix("::/96"), "IPv4-compatible IPv6"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("2002::/16"), "6to4"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (private)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Blocked reports whether ip is in a blocked range, and which.
func Blocked(ip netip.Addr) (string, bool) {
	ip = ip.WithZone("").Unmap()
	for _, r := range Ranges {
		if r.Prefix.Contains(ip) {
			return r.Prefix.String() + " (" + r.Why + ")", true
		}
	}
	return "", false
}

// LiteralHost returns the address of a URL whose host is a literal IP
// address; false for a name or a URL that does not parse.
func LiteralHost(raw string) (netip.Addr, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(u.Hostname(), "."))
	if err != nil {
		return netip.Addr{}, false
	}
	return ip, true
}
