// Package aws holds the AWS deployment example (README.md): IAM policies,
// a CloudFormation template and the Caddyfiles it installs. Its tests
// check them as far as this machine allows: well-formed, every IAM action
// granted is one Tether's code calls (and every call is granted), the
// Caddyfiles validate, and moto_server creates the stack.
package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/membership"
)

var moto *testpeers.Moto

// TestMain starts moto_server for the CloudFormation test; CI must run it,
// so a missing moto_server fails the run rather than skipping.
func TestMain(m *testing.M) { testpeers.MotoMain(m, &moto, false) }

// policy is an IAM policy document.
type policy struct {
	Version   string
	Statement []statement
}

type statement struct {
	Sid       string
	Effect    string
	Action    stringList
	Resource  json.RawMessage
	Principal json.RawMessage
	Condition json.RawMessage
}

// stringList is IAM's "one string or a list of strings".
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

var actionRE = regexp.MustCompile(`^[a-z0-9]+:[A-Z][A-Za-z0-9]+$`)

// readPolicies parses every iam/*.json strictly (unknown fields refused)
// and checks its shape: version 2012-10-17, Allow statements with actions
// service:Operation (no wildcards) and a resource.
func readPolicies(t *testing.T) map[string]policy {
	t.Helper()
	files, _ := filepath.Glob("iam/*.json")
	if len(files) < 6 {
		t.Fatalf("iam/: %d policies; want one per feature (discover ec2, discover s3, storage s3, store dynamodb, route53 dns-01, assume role)", len(files))
	}
	out := map[string]policy{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var p policy
		if err := dec.Decode(&p); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		checkPolicy(t, f, p)
		out[filepath.Base(f)] = p
	}
	return out
}

func checkPolicy(t *testing.T, where string, p policy) {
	t.Helper()
	if p.Version != "2012-10-17" || len(p.Statement) == 0 {
		t.Errorf("%s: version %q, %d statements; want 2012-10-17 and statements", where, p.Version, len(p.Statement))
	}
	for i, s := range p.Statement {
		if s.Effect != "Allow" || len(s.Action) == 0 {
			t.Errorf("%s: statement %d: effect %q, actions %q; want Allow with actions", where, i, s.Effect, s.Action)
		}
		if len(s.Resource) == 0 && len(s.Principal) == 0 {
			t.Errorf("%s: statement %d has no Resource", where, i)
		}
		for _, a := range s.Action {
			if !actionRE.MatchString(a) {
				t.Errorf("%s: action %q is not service:Operation (no wildcards in a least-privilege policy)", where, a)
			}
		}
	}
}

// iamToAPI maps IAM actions whose name is not the API operation's to the
// operations they allow. Others are the operation itself.
var iamToAPI = map[string][]string{
	"s3:ListBucket":  {"s3:ListObjectsV2", "s3:ListObjects"},
	"s3:GetObject":   {"s3:GetObject", "s3:HeadObject"},
	"sts:AssumeRole": {"sts:AssumeRole"},
}

// notGranted are API calls in Tether's code that no policy grants, and
// why.
var notGranted = map[string]string{
	"dynamodb:CreateTable":        "dynamostore.CreateTable sets up a table for tests and operators; the proxy never calls it",
	"dynamodb:DescribeTable":      "dynamostore.CreateTable (above)",
	"dynamodb:UpdateTimeToLive":   "dynamostore.CreateTable (above)",
	"dynamodb:DescribeTimeToLive": "dynamostore.CreateTable (above)",
}

// apiCalls derives the AWS operations Tether's code calls, as
// "service:Operation" with the SDK's service package name, from the
// non-test Go files of the module outside examples/, bench/ and
// internal/testpeers:
//   - a method call x.Op(...) in a file that imports a service package
//     that has such an operation (its api_op_Op.go), or its paginator
//     svc.NewOpPaginator(...);
//   - stscreds.NewAssumeRoleProvider: sts:AssumeRole;
//   - a string literal "Op" or "...Action=Op..." naming an operation of
//     a service (a query client of Tether's own), as strings[Op].
func apiCalls(t *testing.T) (calls map[string][]string, strs map[string]bool) {
	t.Helper()
	calls = map[string][]string{} // service:Op → files
	strs = map[string]bool{}
	opDirs := map[string]string{} // service → SDK module dir
	hasOp := func(svc, op string) bool {
		dir, ok := opDirs[svc]
		if !ok {
			out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go-v2/service/"+svc).Output()
			if err == nil {
				dir = strings.TrimSpace(string(out))
			}
			opDirs[svc] = dir
		}
		if dir == "" {
			return false
		}
		_, err := os.Stat(filepath.Join(dir, "api_op_"+op+".go"))
		return err == nil
	}
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case ".git", "examples", "bench", filepath.Join("internal", "testpeers"):
				return filepath.SkipDir
			}
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		svcs := map[string]string{} // local package name → service
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			svc, ok := strings.CutPrefix(p, "github.com/aws/aws-sdk-go-v2/service/")
			if !ok || strings.Contains(svc, "/") {
				continue
			}
			name := svc
			if imp.Name != nil {
				name = imp.Name.Name
			}
			svcs[name] = svc
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				name := sel.Sel.Name
				if x, ok := sel.X.(*ast.Ident); ok {
					if svc, ok := svcs[x.Name]; ok {
						if op, ok := strings.CutPrefix(name, "New"); ok && strings.HasSuffix(op, "Paginator") && hasOp(svc, strings.TrimSuffix(op, "Paginator")) {
							calls[svc+":"+strings.TrimSuffix(op, "Paginator")] = append(calls[svc+":"+strings.TrimSuffix(op, "Paginator")], rel)
						}
						return true
					}
					if x.Name == "stscreds" && name == "NewAssumeRoleProvider" {
						calls["sts:AssumeRole"] = append(calls["sts:AssumeRole"], rel)
						return true
					}
				}
				for _, svc := range svcs {
					if hasOp(svc, name) {
						calls[svc+":"+name] = append(calls[svc+":"+name], rel)
					}
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					s, _ := strconv.Unquote(n.Value)
					if _, op, ok := strings.Cut(s, "Action="); ok {
						s = strings.FieldsFunc(op, func(r rune) bool { return r == '&' })[0]
					}
					if regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`).MatchString(s) {
						strs[s] = true
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return calls, strs
}

// called reports whether IAM action a is one Tether's code calls.
func called(a string, calls map[string][]string, strs map[string]bool) bool {
	ops := iamToAPI[a]
	if ops == nil {
		ops = []string{a}
	}
	for _, op := range ops {
		if len(calls[op]) > 0 {
			return true
		}
		if _, name, _ := strings.Cut(op, ":"); strs[name] {
			return true
		}
	}
	return false
}

// TestIAMPoliciesLeastPrivilege: every action a policy in iam/ grants is
// an AWS operation Tether's code calls, and every operation it calls is
// granted by one (or listed in notGranted with the reason).
func TestIAMPoliciesLeastPrivilege(t *testing.T) {
	policies := readPolicies(t)
	calls, strs := apiCalls(t)
	if len(calls) == 0 {
		t.Fatal("found no AWS API call in Tether's code; the derivation is broken")
	}
	granted := map[string]bool{}
	for name, p := range policies {
		for _, s := range p.Statement {
			for _, a := range s.Action {
				granted[a] = true
				if !called(a, calls, strs) {
					t.Errorf("%s grants %s, which Tether's code does not call", name, a)
				}
			}
		}
	}
	var ops []string
	for op := range calls {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		ok := granted[op]
		for a, allows := range iamToAPI {
			ok = ok || granted[a] && slices.Contains(allows, op)
		}
		if why, exempt := notGranted[op]; exempt {
			t.Logf("%-34s called in %s; not granted: %s", op, strings.Join(slices.Compact(calls[op]), ", "), why)
			continue
		}
		if !ok {
			t.Errorf("Tether calls %s (%s), which no policy in iam/ grants", op, strings.Join(slices.Compact(calls[op]), ", "))
			continue
		}
		t.Logf("%-34s called in %s; granted", op, strings.Join(slices.Compact(calls[op]), ", "))
	}
}

// template is the part of the CloudFormation template the tests read.
type template struct {
	AWSTemplateFormatVersion string
	Parameters               map[string]json.RawMessage
	Resources                map[string]struct {
		Type       string
		Properties json.RawMessage
	}
	Outputs map[string]json.RawMessage
}

func readTemplate(t *testing.T) (template, []byte) {
	t.Helper()
	b, err := os.ReadFile("cloudformation.json")
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatalf("cloudformation.json: %v", err)
	}
	return tpl, b
}

// caddyEnv is the environment the template's instances give the
// Caddyfiles.
var caddyEnv = map[string]string{
	"AWS_REGION": "eu-west-1", "TETHER_CLUSTER": "prod", "TETHER_SITE": "shop.example.com",
	"TETHER_ACME_EMAIL": "ops@example.com", "TETHER_HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ",
	"TETHER_BUCKET": "tether-bucket", "TETHER_VPC_CIDR": "10.20.0.0/16",
	"TETHER_GOSSIP_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "TETHER_ADMIN_TOKEN": "0123456789abcdef0",
	"TETHER_AJP_SECRET": "0123456789abcdef0", "TETHER_INSTANCE_ID": "i-0123456789abcdef0",
}

// TestTemplate: the template is well-formed JSON with the parts the
// README promises; its launch templates install proxy.Caddyfile and
// agent.Caddyfile exactly as they are here, and both validate; its IAM
// policies grant only actions of the policies in iam/ (so only what
// Tether calls).
func TestTemplate(t *testing.T) {
	tpl, raw := readTemplate(t)
	if tpl.AWSTemplateFormatVersion != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %q", tpl.AWSTemplateFormatVersion)
	}
	byType := map[string][]string{}
	for name, r := range tpl.Resources {
		byType[r.Type] = append(byType[r.Type], name)
	}
	for typ, n := range map[string]int{
		"AWS::ElasticLoadBalancingV2::LoadBalancer": 1, "AWS::ElasticLoadBalancingV2::TargetGroup": 2,
		"AWS::ElasticLoadBalancingV2::Listener": 2, "AWS::AutoScaling::AutoScalingGroup": 2, "AWS::S3::Bucket": 1,
		"AWS::IAM::Role": 2, "AWS::EC2::LaunchTemplate": 2,
	} {
		if len(byType[typ]) != n {
			t.Errorf("%d %s; want %d", len(byType[typ]), typ, n)
		}
	}
	var lb struct{ Type, Scheme string }
	json.Unmarshal(tpl.Resources["LoadBalancer"].Properties, &lb)
	if lb.Type != "network" || lb.Scheme != "internet-facing" {
		t.Errorf("load balancer %+v; want an internet-facing network load balancer", lb)
	}
	for _, name := range byType["AWS::ElasticLoadBalancingV2::TargetGroup"] {
		var tg struct {
			Protocol, HealthCheckProtocol, HealthCheckPath, HealthCheckPort string
			TargetGroupAttributes                                           []struct{ Key, Value string }
		}
		json.Unmarshal(tpl.Resources[name].Properties, &tg)
		pp := slices.Contains(tg.TargetGroupAttributes, struct{ Key, Value string }{"proxy_protocol_v2.enabled", "true"})
		if tg.Protocol != "TCP" || tg.HealthCheckProtocol != "HTTP" || tg.HealthCheckPath != "/healthz" || tg.HealthCheckPort != "9180" || !pp {
			t.Errorf("target group %s = %+v; want TCP, proxy protocol v2, HTTP /healthz checks on 9180", name, tg)
		}
	}
	// The Caddyfiles, verbatim in the user data, and valid.
	for _, f := range []string{"proxy.Caddyfile", "agent.Caddyfile"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("${")) {
			t.Errorf("%s has ${, which the template's Fn::Sub would substitute", f)
		}
		enc, _ := json.Marshal(string(b))
		if !bytes.Contains(raw, bytes.Trim(enc, `"`)) {
			t.Errorf("cloudformation.json does not install %s as it is here", f)
		}
		cfg, err := config.ParseOptions{LookupEnv: func(k string) (string, bool) { v, ok := caddyEnv[k]; return v, ok }}.Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if f == "agent.Caddyfile" && (cfg.Global.Agent == nil || len(cfg.Global.Agent.Discover) != 1) {
			t.Errorf("agent.Caddyfile: agent block %+v", cfg.Global.Agent)
		}
		if f == "proxy.Caddyfile" && (cfg.Global.Cluster == nil || len(cfg.Sites) != 1 || cfg.Sites[0].Balancers[0].DiscoverEC2 == nil || cfg.Global.AdminProxyProtocol == nil) {
			t.Errorf("proxy.Caddyfile: want a cluster, one site whose balancer discovers ec2, admin proxy_protocol")
		}
	}
	// The roles' policies grant only actions of iam/'s policies.
	allowed := map[string]bool{}
	for _, p := range readPolicies(t) {
		for _, s := range p.Statement {
			for _, a := range s.Action {
				allowed[a] = true
			}
		}
	}
	for _, name := range byType["AWS::IAM::Role"] {
		var role struct {
			Policies []struct {
				PolicyName     string
				PolicyDocument policy
			}
		}
		if err := json.Unmarshal(tpl.Resources[name].Properties, &role); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range role.Policies {
			checkPolicy(t, name+"/"+p.PolicyName, p.PolicyDocument)
			for _, s := range p.PolicyDocument.Statement {
				for _, a := range s.Action {
					if !allowed[a] {
						t.Errorf("%s/%s grants %s, which no policy in iam/ grants", name, p.PolicyName, a)
					}
				}
			}
		}
	}
}

// query calls an AWS query-protocol API of moto (CloudFormation, Auto
// Scaling, ELBv2), signed with SigV4 (moto routes by the credential
// scope), and decodes the XML answer into out.
func query(ctx context.Context, service, version string, params url.Values, out any) error {
	params.Set("Version", version)
	body := params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, moto.URL+"/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", service, params.Get("Action"), resp.Status, b)
	}
	return xml.Unmarshal(b, out)
}

// TestTemplateOnMoto creates the stack on moto_server and checks what moto
// models: the Auto Scaling groups run their instances with the tags
// discovery looks for, in the target groups, whose health checks are
// /healthz on 9180; and membership's EC2 discovery finds the proxies and
// the Tomcats by those tags. moto's CloudFormation creates every
// AWS::ElasticLoadBalancingV2::LoadBalancer as an application load
// balancer (it ignores Type), which refuses TCP listeners, so the two
// listeners are left out here; and it does not apply target group
// attributes (proxy protocol v2), which TestTemplate checks in the file.
func TestTemplateOnMoto(t *testing.T) {
	if moto == nil {
		t.Skip("integration test (moto_server); skipped under -short")
	}
	ctx := t.Context()
	tpl, raw := readTemplate(t)
	var full map[string]any
	json.Unmarshal(raw, &full)
	res := full["Resources"].(map[string]any)
	var skipped []string
	for name, r := range tpl.Resources {
		if r.Type == "AWS::ElasticLoadBalancingV2::Listener" {
			delete(res, name)
			skipped = append(skipped, name)
		}
	}
	body, _ := json.Marshal(full)

	moto.AWSEnv(t.Setenv)
	ami, err := firstAMI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stack := fmt.Sprintf("tether-%d", time.Now().UnixNano())
	p := url.Values{"Action": {"CreateStack"}, "StackName": {stack}, "TemplateBody": {string(body)}, "Capabilities.member.1": {"CAPABILITY_IAM"}}
	i := 0
	for k, v := range map[string]string{"AmiId": ami, "TetherPackageUrl": "https://example.test/tether.deb", "HostedZoneId": "Z0123456789ABCDEFGHIJ",
		"AcmeEmail": "ops@example.test", "GossipKey": caddyEnv["TETHER_GOSSIP_KEY"], "AdminToken": "0123456789abcdef0", "AjpSecret": "0123456789abcdef0"} {
		i++
		p.Set(fmt.Sprintf("Parameters.member.%d.ParameterKey", i), k)
		p.Set(fmt.Sprintf("Parameters.member.%d.ParameterValue", i), v)
	}
	if err := query(ctx, "cloudformation", "2010-05-15", p, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	var stacks struct {
		Stacks []struct {
			StackStatus, StackStatusReason string
			Outputs                        []struct{ OutputKey, OutputValue string } `xml:"Outputs>member"`
		} `xml:"DescribeStacksResult>Stacks>member"`
	}
	testpeers.WaitUntil(t, 60*time.Second, "stack created", func() bool {
		if err := query(ctx, "cloudformation", "2010-05-15", url.Values{"Action": {"DescribeStacks"}, "StackName": {stack}}, &stacks); err != nil {
			t.Fatal(err)
		}
		return len(stacks.Stacks) == 1 && !strings.HasSuffix(stacks.Stacks[0].StackStatus, "IN_PROGRESS")
	})
	if s := stacks.Stacks[0]; s.StackStatus != "CREATE_COMPLETE" {
		t.Fatalf("stack %s: %s", s.StackStatus, s.StackStatusReason)
	}
	var resources struct {
		Summaries []struct{ LogicalResourceId, ResourceType, ResourceStatus string } `xml:"ListStackResourcesResult>StackResourceSummaries>member"`
	}
	if err := query(ctx, "cloudformation", "2010-05-15", url.Values{"Action": {"ListStackResources"}, "StackName": {stack}}, &resources); err != nil {
		t.Fatal(err)
	}
	for _, r := range resources.Summaries {
		if r.ResourceStatus != "CREATE_COMPLETE" {
			t.Errorf("%s (%s): %s", r.LogicalResourceId, r.ResourceType, r.ResourceStatus)
		}
	}
	t.Logf("moto created %d of the template's %d resources (left out, see the doc comment: %s); outputs %v",
		len(resources.Summaries), len(tpl.Resources), strings.Join(skipped, ", "), stacks.Stacks[0].Outputs)
	if len(resources.Summaries) != len(tpl.Resources)-len(skipped) {
		t.Errorf("moto lists %d resources; want %d", len(resources.Summaries), len(tpl.Resources)-len(skipped))
	}

	var groups struct {
		Groups []struct {
			AutoScalingGroupName string
			Instances            []struct{ InstanceId string } `xml:"Instances>member"`
			Tags                 []struct{ Key, Value string } `xml:"Tags>member"`
			TargetGroupARNs      []string                      `xml:"TargetGroupARNs>member"`
		} `xml:"DescribeAutoScalingGroupsResult>AutoScalingGroups>member"`
	}
	if err := query(ctx, "autoscaling", "2011-01-01", url.Values{"Action": {"DescribeAutoScalingGroups"}}, &groups); err != nil {
		t.Fatal(err)
	}
	tagged := map[string]int{}
	for _, g := range groups.Groups {
		if !strings.HasPrefix(g.AutoScalingGroupName, stack) {
			continue
		}
		for _, tag := range g.Tags {
			tagged[tag.Key+"="+tag.Value] = len(g.Instances)
			if tag.Key == "tether-cluster" && len(g.TargetGroupARNs) != 2 {
				t.Errorf("the proxies' group is in %d target groups; want 2 (80, 443)", len(g.TargetGroupARNs))
			}
		}
	}
	if tagged["tether-cluster=prod"] != 2 || tagged["tether-app=shop"] != 2 {
		t.Errorf("auto scaling groups by tag: %v; want 2 proxies tagged tether-cluster=prod and 2 Tomcats tagged tether-app=shop", tagged)
	}
	var tgs struct {
		Groups []struct {
			TargetGroupName, Protocol, Port, HealthCheckProtocol, HealthCheckPort, HealthCheckPath string
		} `xml:"DescribeTargetGroupsResult>TargetGroups>member"`
	}
	if err := query(ctx, "elasticloadbalancing", "2015-12-01", url.Values{"Action": {"DescribeTargetGroups"}}, &tgs); err != nil {
		t.Fatal(err)
	}
	n := 0 // moto shortens the names; this test's stack is the only one with these checks
	for _, g := range tgs.Groups {
		if g.HealthCheckPath == "/healthz" && g.HealthCheckPort == "9180" && g.Protocol == "TCP" {
			n++
		}
	}
	if n < 2 {
		t.Errorf("target groups with TCP and /healthz checks on 9180: %d; want 2: %+v", n, tgs.Groups)
	}

	// What the proxies and agents would find: membership's EC2 discovery
	// with the filters of proxy.Caddyfile and agent.Caddyfile.
	for _, tc := range []struct {
		tag  string
		port string
	}{{"tether-cluster=prod", "7946"}, {"tether-app=shop", "8009"}} {
		prov, err := membership.NewProvider(ctx, membership.DiscoverSpec{Kind: "ec2", Options: map[string][]string{
			"tag": {tc.tag}, "port": {tc.port}, "region": {"us-east-1"}, "endpoint": {moto.URL}}}, zerolog.New(t.Output()))
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := prov.Addrs(ctx)
		if err != nil || len(addrs) != 2 {
			t.Errorf("discover ec2 tag %s: %v, %v; want the group's 2 instances", tc.tag, addrs, err)
		}
		t.Logf("discover ec2 tag %s finds %v", tc.tag, addrs)
	}
}

// firstAMI is an image moto knows.
func firstAMI(ctx context.Context) (string, error) {
	var out struct {
		Images []string `xml:"imagesSet>item>imageId"`
	}
	if err := query(ctx, "ec2", "2016-11-15", url.Values{"Action": {"DescribeImages"}, "Owner.1": {"amazon"}}, &out); err != nil {
		return "", err
	}
	if len(out.Images) == 0 {
		return "", fmt.Errorf("moto knows no image")
	}
	return out.Images[0], nil
}
