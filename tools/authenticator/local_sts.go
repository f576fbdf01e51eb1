// Compiled into aws-iam-authenticator's own package main (tools/build-kube-bin.sh builds it beside a copy of that package):
// the local system has no STS but moto, so a token's presigned https://sts.<region>.amazonaws.com/ request is
// sent to the endpoint named by KOPS_ONBOARD_LOCAL_STS_URL instead. Everything the verifier checks (scheme,
// host, path, query, signed x-k8s-aws-id header, expiry) is checked before the request leaves, unchanged.
package main

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
)

// The hosts token.Verify accepts in the aws partitions (regional, global, dual-stack).
var stsHost = regexp.MustCompile(`^sts(\.[a-z0-9-]+)?\.(amazonaws\.com|amazonaws\.com\.cn|api\.aws)$`)

type localSTS struct {
	target *url.URL
	next   http.RoundTripper
}

func (t localSTS) RoundTrip(req *http.Request) (*http.Response, error) {
	if !stsHost.MatchString(req.URL.Hostname()) {
		return t.next.RoundTrip(req)
	}
	redirected := req.Clone(req.Context())
	redirected.URL.Scheme = t.target.Scheme
	redirected.URL.Host = t.target.Host
	// The Host header keeps the STS name: moto routes by it and reads the region from it.
	redirected.Host = req.URL.Host
	return t.next.RoundTrip(redirected)
}

func init() {
	endpoint := os.Getenv("KOPS_ONBOARD_LOCAL_STS_URL")
	if endpoint == "" {
		return
	}
	target, err := url.Parse(endpoint)
	if err != nil || target.Host == "" {
		panic("KOPS_ONBOARD_LOCAL_STS_URL is not a URL: " + endpoint)
	}
	// The verifier's http.Client has no Transport of its own, so it uses this one.
	http.DefaultTransport = localSTS{target: target, next: http.DefaultTransport}
}
