package agent

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tether-proxy/tether/membership"
)

// ParseDiscover reads one discovery provider written on a line, as tether
// agent's --discover takes it: the kind, then addresses (static, dns) and
// KEY=VALUE options (the keys of a cluster block's discover), separated by
// blanks; a KEY given twice adds a value (tag). The value is split at the
// first '=' only ("tag=tether-role=proxy"). membership.NewProvider checks
// the options themselves.
func ParseDiscover(s string) (membership.DiscoverSpec, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return membership.DiscoverSpec{}, errors.New(`want KIND [ADDR...] [KEY=VALUE...], such as "ec2 tag=tether-role=proxy port=7946"`)
	}
	spec := membership.DiscoverSpec{Kind: fields[0]}
	if !slices.Contains([]string{"static", "dns", "ec2", "s3"}, spec.Kind) {
		return membership.DiscoverSpec{}, fmt.Errorf("unknown provider %q (want static, dns, ec2 or s3)", spec.Kind)
	}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || spec.Kind == "static" {
			spec.Addrs = append(spec.Addrs, f)
			continue
		}
		if k == "" || v == "" {
			return membership.DiscoverSpec{}, fmt.Errorf("%q: want KEY=VALUE", f)
		}
		if spec.Options == nil {
			spec.Options = map[string][]string{}
		}
		spec.Options[k] = append(spec.Options[k], v)
	}
	return spec, nil
}
