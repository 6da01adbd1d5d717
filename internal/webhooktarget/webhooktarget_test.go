package webhooktarget

import (
	"net/netip"
	"strings"
	"testing"
)

func TestBlockedCoversEveryRange(t *testing.T) {
	tested := map[string]bool{}
	for _, tc := range []struct {
		ip, in string
	}{
		// The ranges of issue 14.
		{"64:ff9b::a00:1", "64:ff9b::/96"}, // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", "64:ff9b::/96"},
		{"64:ff9b::", "64:ff9b::/96"},
		{"2002:a00:1::1", "2002::/16"}, // 6to4 of 10.0.0.1
		{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2002::/16"},
		{"192.0.0.0", "192.0.0.0/24"},
		{"192.0.0.170", "192.0.0.0/24"},
		{"192.0.0.255", "192.0.0.0/24"},
		{"198.18.0.0", "198.18.0.0/15"},
		{"198.19.255.255", "198.18.0.0/15"},
		{"240.0.0.1", "240.0.0.0/4"},
		{"255.255.255.255", "240.0.0.0/4"},
		{"::7f00:1", "::/96"}, // IPv4-compatible 127.0.0.1
		{"::a9fe:a9fe", "::/96"},
		{"::8.8.8.8", "::/96"},
		{"::ffff:127.0.0.1", "127.0.0.0/8"}, // IPv4-mapped: judged as IPv4
		{"::ffff:a9fe:a9fe", "169.254.0.0/16"},
		{"::ffff:198.18.0.1", "198.18.0.0/15"},
		{"::ffff:100.64.0.1", "100.64.0.0/10"},
		// Blocked before, and still.
		{"0.0.0.0", "0.0.0.0/8"},
		{"0.1.2.3", "0.0.0.0/8"},
		{"10.255.0.1", "10.0.0.0/8"},
		{"100.127.255.255", "100.64.0.0/10"},
		{"127.0.0.1", "127.0.0.0/8"},
		{"169.254.169.254", "169.254.0.0/16"},
		{"172.31.0.1", "172.16.0.0/12"},
		{"192.168.1.1", "192.168.0.0/16"},
		{"224.0.0.1", "224.0.0.0/4"},
		{"239.255.255.255", "224.0.0.0/4"},
		{"::", "::/96"},
		{"::1", "::/96"},
		{"fd00::1", "fc00::/7"},
		{"fe80::1", "fe80::/10"},
		{"fe80::1%eth0", "fe80::/10"},
		{"ff02::1", "ff00::/8"},
		{"64:ff9b:1::1", "64:ff9b:1::/48"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32"},
	} {
		why, blocked := Blocked(netip.MustParseAddr(tc.ip))
		if !blocked || !strings.HasPrefix(why, tc.in+" ") {
			t.Errorf("Blocked(%s) = %q, %v; want blocked by %s", tc.ip, why, blocked, tc.in)
		}
		tested[tc.in] = true
	}
	for _, r := range Ranges {
		if !tested[r.Prefix.String()] {
			t.Errorf("the table has no case in %s", r.Prefix)
		}
	}
	for _, ip := range []string{
		"8.8.8.8", "1.1.1.1", "203.0.113.7", "192.0.1.1", "198.17.255.255", "198.20.0.0", "223.255.255.255",
		"100.63.255.255", "100.128.0.0", "11.0.0.1", "::ffff:8.8.8.8", "2001:db8::1", "2606:4700:4700::1111", "2003::1", "64:ff9b:2::1",
		"::1:0:0:1",
	} {
		if why, blocked := Blocked(netip.MustParseAddr(ip)); blocked {
			t.Errorf("Blocked(%s) = %q, want allowed", ip, why)
		}
	}
}

func TestLiteralHost(t *testing.T) {
	for raw, want := range map[string]string{
		"http://10.0.0.1/hook":            "10.0.0.1",
		"https://[::ffff:127.0.0.1]:443/": "::ffff:127.0.0.1",
		"https://[2002::1]/x":             "2002::1",
		"http://127.0.0.1./":              "127.0.0.1",
	} {
		ip, ok := LiteralHost(raw)
		if !ok || ip != netip.MustParseAddr(want) {
			t.Errorf("LiteralHost(%s) = %s, %v; want %s", raw, ip, ok, want)
		}
	}
	for _, raw := range []string{"https://hooks.example.com/", "http://0x7f.1/", "http://%zz/", ""} {
		if ip, ok := LiteralHost(raw); ok {
			t.Errorf("LiteralHost(%s) = %s, want no literal address", raw, ip)
		}
	}
}
