package activation

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// The Name Resolution Policy Table (NRPT) is how Windows sends only some
// names to a given DNS server: one registry key per rule under the local
// policy key, read by the DNS Client service. This is the layout VPN clients
// such as Tailscale write (net/dns/nrpt_windows.go there). When Group Policy
// defines NRPT rules of its own, Windows ignores the local key, so dnspin then
// writes its rules under the Group Policy key too.
const (
	// NRPTLocalKey holds the local NRPT rules, one subkey each.
	NRPTLocalKey = `SYSTEM\CurrentControlSet\Services\Dnscache\Parameters\DnsPolicyConfig`
	nrptGPKey    = `SOFTWARE\Policies\Microsoft\Windows NT\DNSClient\DnsPolicyConfig`

	nrptVersion       = "Version"           // REG_DWORD 1
	nrptName          = "Name"              // REG_MULTI_SZ: namespaces (".suffix" or an FQDN)
	nrptServers       = "GenericDNSServers" // REG_SZ: "127.0.0.1; ::1; 192.0.2.53" (dnspin, then the originals)
	nrptConfigOptions = "ConfigOptions"     // REG_DWORD 0x8 = use GenericDNSServers
	nrptComment       = "Comment"           // REG_SZ: our marker, so leftovers are recognisable
	nrptDisplayName   = "DisplayName"

	nrptOverrideDNS = 0x8
)

// nrptCommentText marks rules dnspin wrote (the registry's Marker).
const nrptCommentText = "Written by dnspin; removed by `dnspin deactivate`."

// nrptRuleID returns the rule key name for domain: a GUID-shaped name
// derived from the domain, so the same domain always maps to the same key
// and a re-apply after a crash finds the rule it wrote before.
func nrptRuleID(domain string) string {
	h := sha256.Sum256([]byte("dnspin nrpt rule " + domain))
	h[6] = h[6]&0x0f | 0x50 // version nibble, as in a name-based UUID
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("{%x-%x-%x-%x-%x}", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// nrptRuleValues are the values of the rule that sends domain and all names
// below it to servers (dnspin first, then the fallbacks; see fallback.go). Both the ".domain" suffix and the domain itself are
// listed: the suffix form does not match the bare apex name.
func nrptRuleValues(domain string, servers []string) []namedValue {
	return []namedValue{
		{nrptVersion, DWord(1)},
		{nrptName, MultiSZ("."+domain, domain)},
		{nrptServers, SZ(strings.Join(servers, "; "))},
		{nrptConfigOptions, DWord(nrptOverrideDNS)},
		{nrptComment, SZ(nrptCommentText)},
		{nrptDisplayName, SZ("dnspin: " + domain)},
	}
}

type namedValue struct {
	name string
	v    RegValue
}

// port53Servers returns the addresses among dnspin's listen addresses that
// the Windows and macOS DNS clients can use: they only speak to port 53.
func port53Servers(resolver []string) (v4, v6 []string, err error) {
	as, err := ownAddrs(resolver, 53, loopback4)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range as {
		if a.Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	if len(v4)+len(v6) == 0 {
		return nil, nil, fmt.Errorf("none of dnspin's listen addresses %v uses port 53, and the operating system can only send DNS to port 53: add \"127.0.0.1:53\" to listen in the config", resolver)
	}
	return v4, v6, nil
}
