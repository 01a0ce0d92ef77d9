package testpeers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2 returns an EC2 client for moto with static test credentials.
func (m *Moto) EC2() *ec2.Client {
	return ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// LoopbackVPC is a VPC on moto whose subnet is 127.N.1.0/24 (N random), so
// the instances it runs have loopback private addresses: a test binds its
// processes there, and discovery through DescribeInstances finds them
// while every packet stays on this machine. moto accepts the range; AWS
// would not.
type LoopbackVPC struct {
	c      *ec2.Client
	Prefix string // "127.N.1.": the instances' addresses are Prefix+host
	subnet string
	ami    string
}

// NewLoopbackVPC creates the VPC and its subnet.
func (m *Moto) NewLoopbackVPC(ctx context.Context) (*LoopbackVPC, error) {
	c := m.EC2()
	n := 100 + rand.IntN(150)
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(fmt.Sprintf("127.%d.0.0/16", n))})
	if err != nil {
		return nil, fmt.Errorf("CreateVpc: %w", err)
	}
	sn, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(fmt.Sprintf("127.%d.1.0/24", n))})
	if err != nil {
		return nil, fmt.Errorf("CreateSubnet: %w", err)
	}
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil {
		return nil, fmt.Errorf("DescribeImages: %w", err)
	}
	if len(imgs.Images) == 0 {
		return nil, errors.New("DescribeImages: no images")
	}
	return &LoopbackVPC{c: c, Prefix: fmt.Sprintf("127.%d.1.", n), subnet: aws.ToString(sn.Subnet.SubnetId), ami: aws.ToString(imgs.Images[0].ImageId)}, nil
}

// Run starts an instance at Prefix+host with tags and returns its id.
func (v *LoopbackVPC) Run(ctx context.Context, host int, tags map[string]string) (string, error) {
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(v.ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: ec2types.InstanceTypeT3Micro, SubnetId: aws.String(v.subnet),
		PrivateIpAddress: aws.String(fmt.Sprintf("%s%d", v.Prefix, host)),
	}
	if len(tags) > 0 {
		ts := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeInstance}
		for k, val := range tags {
			ts.Tags = append(ts.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(val)})
		}
		in.TagSpecifications = []ec2types.TagSpecification{ts}
	}
	out, err := v.c.RunInstances(ctx, in)
	if err != nil {
		return "", fmt.Errorf("RunInstances: %w", err)
	}
	return aws.ToString(out.Instances[0].InstanceId), nil
}

// Tag adds tags to instance id.
func (v *LoopbackVPC) Tag(ctx context.Context, id string, tags map[string]string) error {
	in := &ec2.CreateTagsInput{Resources: []string{id}}
	for k, val := range tags {
		in.Tags = append(in.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(val)})
	}
	_, err := v.c.CreateTags(ctx, in)
	return err
}

// Terminate terminates instance id.
func (v *LoopbackVPC) Terminate(ctx context.Context, id string) error {
	_, err := v.c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	return err
}
