"""EKS stack: an EKS control plane in the private subnets (Kubernetes secrets encrypted with
the platform KMS key, API access via EKS access entries and the aws-auth config map), its
IAM role, and a managed node group with the standard worker node IAM role."""

import json

import pulumi
import pulumi_aws as aws

STACK = "services-eks"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

subnet_ids = config.require_object("privateSubnetIds")
kms_key_arn = config.require("kmsKeyArn")
kubernetes_version = config.get("kubernetesVersion", "1.32")
public_endpoint = config.get_bool("endpointPublicAccess", True)
node_instance_type = config.get("nodeInstanceType", "t3.medium")
node_capacity_type = config.get("nodeCapacityType", "ON_DEMAND")
node_disk_size = config.get_int("nodeDiskSize", 20)
node_min = config.get_int("nodeMinSize", 1)
node_max = config.get_int("nodeMaxSize", 3)
node_desired = config.get_int("nodeDesiredSize", 2)
if not node_min <= node_desired <= node_max:
    raise ValueError("need nodeMinSize <= nodeDesiredSize <= nodeMaxSize")


def service_role(name: str, service: str, policies: list):
    """An IAM role for an AWS service with managed policies; returns (role, attachments)."""
    trust = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}
    role = aws.iam.Role(
        name,
        name=f"{prefix}-{name}",
        assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
        tags=tags,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy}", role=role.name, policy_arn=f"arn:aws:iam::aws:policy/{policy}"
        )
        for policy in policies
    ]
    return role, attachments


cluster_role, cluster_attachments = service_role(
    "eks-cluster", "eks.amazonaws.com", ["AmazonEKSClusterPolicy"]
)
kms_actions = ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"]
kms_statement = {"Effect": "Allow", "Action": kms_actions, "Resource": kms_key_arn}
cluster_kms = aws.iam.RolePolicy(
    "eks-cluster-kms",
    role=cluster_role.id,
    policy=json.dumps({"Version": "2012-10-17", "Statement": [kms_statement]}),
)

cluster = aws.eks.Cluster(
    "cluster",
    name=f"{prefix}-eks",
    version=kubernetes_version,
    role_arn=cluster_role.arn,
    vpc_config={
        "subnet_ids": subnet_ids,
        "endpoint_private_access": True,
        "endpoint_public_access": public_endpoint,
    },
    access_config={"authentication_mode": "API_AND_CONFIG_MAP"},
    encryption_config={"resources": ["secrets"], "provider": {"key_arn": kms_key_arn}},
    enabled_cluster_log_types=["api", "audit", "authenticator"],
    tags=tags,
    opts=pulumi.ResourceOptions(depends_on=[*cluster_attachments, cluster_kms]),
)

node_policies = [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
]
node_role, node_attachments = service_role("eks-node", "ec2.amazonaws.com", node_policies)

node_group = aws.eks.NodeGroup(
    "nodes",
    cluster_name=cluster.name,
    node_group_name=f"{prefix}-nodes",
    node_role_arn=node_role.arn,
    subnet_ids=subnet_ids,
    instance_types=[node_instance_type],
    capacity_type=node_capacity_type,
    disk_size=node_disk_size,
    scaling_config={"min_size": node_min, "max_size": node_max, "desired_size": node_desired},
    update_config={"max_unavailable": 1},
    tags=tags,
    opts=pulumi.ResourceOptions(depends_on=node_attachments),
)

pulumi.export("clusterName", cluster.name)
pulumi.export("clusterEndpoint", cluster.endpoint)
pulumi.export("clusterArn", cluster.arn)
pulumi.export("clusterCertificateData", cluster.certificate_authority.data)
pulumi.export("nodeGroupName", node_group.node_group_name)
pulumi.export("nodeRoleArn", node_role.arn)
