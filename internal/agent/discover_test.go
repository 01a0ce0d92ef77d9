package agent

import "testing"

// FuzzParseDiscover: ParseDiscover never panics, and what it accepts has a
// known kind and no empty option.
func FuzzParseDiscover(f *testing.F) {
	for _, s := range []string{"ec2 tag=a=b port=1", "s3 bucket=b", "dns x port=1", "static a:1 b:2", "", "ec2 =", "x", "ec2 tag=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseDiscover(s)
		if err != nil {
			return
		}
		if spec.Kind != "static" && spec.Kind != "dns" && spec.Kind != "ec2" && spec.Kind != "s3" {
			t.Fatalf("ParseDiscover(%q) accepted kind %q", s, spec.Kind)
		}
		for k, vs := range spec.Options {
			for _, v := range vs {
				if k == "" || v == "" {
					t.Fatalf("ParseDiscover(%q) accepted an empty option %q=%q", s, k, v)
				}
			}
		}
	})
}
