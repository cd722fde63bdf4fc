package relay

import (
	"errors"
	"net/netip"
	"testing"
)

func TestSSRFCheck(t *testing.T) {
	none := &SSRF{}
	loop := &SSRF{AllowLoopback: true}
	priv := &SSRF{AllowPrivate: true}
	cidr := &SSRF{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("10.9.0.0/16")}}
	for _, tc := range []struct {
		ip    string
		g     *SSRF
		allow bool
	}{
		{"93.184.216.34", none, true},
		{"2606:2800:220:1:248:1893:25c8:1946", none, true},
		{"127.0.0.1", none, false},
		{"127.3.4.5", none, false},
		{"::1", none, false},
		{"::ffff:127.0.0.1", none, false},
		{"127.0.0.1", loop, true},
		{"::1", loop, true},
		{"10.1.2.3", none, false},
		{"172.16.0.1", none, false},
		{"172.31.255.255", none, false},
		{"172.32.0.1", none, true},
		{"192.168.1.1", none, false},
		{"100.64.0.1", none, false},
		{"fd12::1", none, false},
		{"::ffff:10.0.0.1", none, false},
		{"10.1.2.3", priv, true},
		{"fd12::1", priv, true},
		{"10.1.2.3", loop, false},
		{"127.0.0.1", priv, false},
		{"169.254.169.254", none, false},
		{"169.254.169.254", loop, false},
		{"169.254.169.254", priv, false},
		{"169.254.169.254", cidr, true},
		{"fd00:ec2::254", priv, false},
		{"169.254.170.2", priv, false},
		{"100.100.100.200", priv, false},
		{"169.254.1.1", priv, false},
		{"fe80::1", priv, false},
		{"fe80::1%eth0", priv, false},
		{"0.0.0.0", loop, false},
		{"::", loop, false},
		{"224.0.0.1", none, false},
		{"ff02::1", none, false},
		{"255.255.255.255", none, false},
		{"240.1.2.3", none, false},
		{"0.1.2.3", none, false},
		{"192.0.2.1", none, false},
		{"64:ff9b::7f00:1", none, false},    // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", priv, false}, // NAT64 of 169.254.169.254
		{"64:ff9b::5db8:d822", none, true},  // NAT64 of a public address
		{"2002:a00:1::1", none, false},      // 6to4 of 10.0.0.1
		{"10.9.8.7", cidr, true},
		{"10.10.8.7", cidr, false},
	} {
		err := tc.g.Check(netip.MustParseAddr(tc.ip))
		if tc.allow && err != nil {
			t.Errorf("%s: refused: %v", tc.ip, err)
		}
		if !tc.allow && !errors.Is(err, ErrRefused) {
			t.Errorf("%s: allowed (err %v)", tc.ip, err)
		}
	}
}

// TestDialControl: the check at dial time judges the resolved address, whatever name led to
// it.
func TestDialControl(t *testing.T) {
	g := &SSRF{}
	for _, addr := range []string{"127.0.0.1:80", "[::1]:443", "169.254.169.254:80", "[fe80::1%lo]:80", "garbage"} {
		if err := g.control("tcp", addr, nil); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want ErrRefused", addr, err)
		}
	}
	if err := g.control("udp", "93.184.216.34:53", nil); !errors.Is(err, ErrRefused) {
		t.Errorf("udp allowed")
	}
	if err := g.control("tcp4", "93.184.216.34:443", nil); err != nil {
		t.Errorf("public address refused: %v", err)
	}
}
