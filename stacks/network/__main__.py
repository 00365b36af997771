"""Network stack: a VPC with one public and one private subnet per availability zone,
an internet gateway, an optional single NAT gateway and the public/private route tables."""

import ipaddress

import pulumi
import pulumi_aws as aws

STACK = "network"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
region = cloud.get("region", "us-east-1")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

vpc_cidr = config.get("vpcCidr", "10.0.0.0/16")
az_count = config.get_int("availabilityZones", 2)
az_suffixes = config.get_object("availabilityZoneNames", ["a", "b", "c"])
enable_nat = config.get_bool("enableNatGateway", True)

if az_count > len(az_suffixes):
    raise ValueError(
        f"availabilityZones={az_count} but only {len(az_suffixes)} availabilityZoneNames"
    )
zones = [f"{region}{suffix}" for suffix in az_suffixes[:az_count]]

# Carve the VPC range into 16 equal blocks: public subnets from the first half,
# private subnets from the second half.
network = ipaddress.ip_network(vpc_cidr)
blocks = list(network.subnets(new_prefix=network.prefixlen + 4))

vpc = aws.ec2.Vpc(
    "vpc",
    cidr_block=vpc_cidr,
    enable_dns_support=True,
    enable_dns_hostnames=True,
    tags={**tags, "Name": f"{prefix}-vpc"},
)

igw = aws.ec2.InternetGateway("igw", vpc_id=vpc.id, tags={**tags, "Name": f"{prefix}-igw"})

public_rt = aws.ec2.RouteTable(
    "public-rt", vpc_id=vpc.id, tags={**tags, "Name": f"{prefix}-public"}
)
aws.ec2.Route(
    "public-default",
    route_table_id=public_rt.id,
    destination_cidr_block="0.0.0.0/0",
    gateway_id=igw.id,
)

private_rt = aws.ec2.RouteTable(
    "private-rt", vpc_id=vpc.id, tags={**tags, "Name": f"{prefix}-private"}
)

public_subnets = []
private_subnets = []
for i, zone in enumerate(zones):
    public = aws.ec2.Subnet(
        f"public-{i}",
        vpc_id=vpc.id,
        availability_zone=zone,
        cidr_block=str(blocks[i]),
        map_public_ip_on_launch=True,
        tags={**tags, "Name": f"{prefix}-public-{zone}", "Tier": "public"},
    )
    private = aws.ec2.Subnet(
        f"private-{i}",
        vpc_id=vpc.id,
        availability_zone=zone,
        cidr_block=str(blocks[8 + i]),
        tags={**tags, "Name": f"{prefix}-private-{zone}", "Tier": "private"},
    )
    aws.ec2.RouteTableAssociation(
        f"public-{i}-rta", subnet_id=public.id, route_table_id=public_rt.id
    )
    aws.ec2.RouteTableAssociation(
        f"private-{i}-rta", subnet_id=private.id, route_table_id=private_rt.id
    )
    public_subnets.append(public)
    private_subnets.append(private)

nat_gateway_id = pulumi.Output.from_input("")
if enable_nat:
    eip = aws.ec2.Eip(
        "nat-eip",
        domain="vpc",
        tags={**tags, "Name": f"{prefix}-nat"},
        opts=pulumi.ResourceOptions(depends_on=[igw]),
    )
    nat = aws.ec2.NatGateway(
        "nat",
        allocation_id=eip.id,
        subnet_id=public_subnets[0].id,
        tags={**tags, "Name": f"{prefix}-nat"},
    )
    aws.ec2.Route(
        "private-default",
        route_table_id=private_rt.id,
        destination_cidr_block="0.0.0.0/0",
        nat_gateway_id=nat.id,
    )
    nat_gateway_id = nat.id

pulumi.export("vpcId", vpc.id)
pulumi.export("vpcCidr", vpc.cidr_block)
pulumi.export("publicSubnetIds", [s.id for s in public_subnets])
pulumi.export("privateSubnetIds", [s.id for s in private_subnets])
pulumi.export("availabilityZones", zones)
pulumi.export("internetGatewayId", igw.id)
pulumi.export("natGatewayId", nat_gateway_id)
