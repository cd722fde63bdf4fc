package relay

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// SSRF says which destination addresses, beyond public ones, deliveries may reach. The zero
// value allows public addresses only.
type SSRF struct {
	// AllowLoopback allows 127.0.0.0/8 and ::1 (tests, a receiver on the same machine).
	AllowLoopback bool
	// AllowPrivate allows the private ranges: 10/8, 172.16/12, 192.168/16, 100.64/10
	// (shared address space) and fc00::/7.
	AllowPrivate bool
	// AllowCIDRs allows these ranges whatever their kind, including link-local and cloud
	// metadata addresses, which nothing else allows.
	AllowCIDRs []netip.Prefix
}

// metadataAddrs are the instance metadata services of the common clouds: refused unless an
// explicit CIDR allows them, even when loopback or private addresses are allowed.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, …
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

var (
	privateRanges = prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
	// reservedRanges are never a real destination: "this network", IETF protocol
	// assignments, documentation and benchmark ranges, the old class E and broadcast, the
	// IPv4-compatible and discard-only IPv6 ranges.
	reservedRanges = prefixes("0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "::/96", "100::/64", "2001:db8::/32")
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	six4  = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// addrKind names the kind of a non-public address; "" for a public one.
func addrKind(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	for _, m := range metadataAddrs {
		if ip == m {
			return "a cloud metadata address"
		}
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	}
	for _, p := range privateRanges {
		if p.Contains(ip) {
			return "private"
		}
	}
	for _, p := range reservedRanges {
		if p.Contains(ip) {
			return "reserved"
		}
	}
	// IPv6 forms that carry an IPv4 address reach that address: judge the embedded one.
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			if k := addrKind(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})); k != "" {
				return k + " (through NAT64)"
			}
		case six4.Contains(ip):
			if k := addrKind(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})); k != "" {
				return k + " (through 6to4)"
			}
		}
	}
	return ""
}

// Check returns nil when deliveries may reach ip, and an error wrapping ErrRefused that
// names the address and its kind otherwise. An explicit CIDR wins; then cloud metadata,
// link-local, unspecified, multicast and reserved addresses are refused, loopback and
// private ones unless allowed, and every other address is allowed.
func (s *SSRF) Check(ip netip.Addr) error {
	plain := ip.WithZone("").Unmap()
	for _, p := range s.AllowCIDRs {
		if p.Contains(plain) {
			return nil
		}
	}
	kind := addrKind(plain)
	switch {
	case kind == "":
		return nil
	case kind == "loopback" && s.AllowLoopback, kind == "private" && s.AllowPrivate:
		return nil
	}
	hint := ""
	switch kind {
	case "loopback":
		hint = " (allow with ssrf.allow_loopback)"
	case "private":
		hint = " (allow with ssrf.allow_private)"
	default:
		hint = " (allow only with an explicit ssrf.allow_cidrs entry)"
	}
	return fmt.Errorf("%w: %s is %s%s", ErrRefused, plain, kind, hint)
}

// control is a net.Dialer Control function: it runs after name resolution, on the very
// address about to be connected, so a name that resolves differently at dial time (DNS
// rebinding) cannot reach a refused address.
func (s *SSRF) control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %q", ErrRefused, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unreadable address %q", ErrRefused, address)
	}
	return s.Check(ap.Addr())
}

// dialer returns a dialer whose every connection passes Check.
func (s *SSRF) dialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: s.control}
}
