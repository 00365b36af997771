"""Security stack: the platform KMS key (with a key policy that also lets CloudWatch Logs
and CloudWatch alarms use it), the ALB -> application -> database security group chain,
and an EC2 instance role (SSM + CloudWatch agent) with its instance profile."""

import json

import pulumi
import pulumi_aws as aws

STACK = "security"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
region = cloud.get("region", "us-east-1")
account = cloud.require("account")  # the key policy names the account
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

vpc_id = config.require("vpcId")
ingress_cidrs = config.get_object("allowedIngressCidrs", ["0.0.0.0/0"])
app_port = config.get_int("appPort", 8080)
db_port = config.get_int("databasePort", 5432)
deletion_window = config.get_int("kmsDeletionWindowDays", 30)
key_rotation = config.get_bool("enableKeyRotation", True)

logs_arn = {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:*"}}
logs_actions = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
statements = [
    {
        "Sid": "AccountAdmin",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*",
    },
    # Encrypted log groups are encrypted by the CloudWatch Logs service itself.
    {
        "Sid": "CloudWatchLogs",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": [*logs_actions, "kms:Describe*"],
        "Condition": logs_arn,
    },
    # Alarms publish to the encrypted SNS alarm topic as cloudwatch.amazonaws.com.
    {
        "Sid": "CloudWatchAlarms",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
    },
]
key_policy = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Resource": "*", **statement} for statement in statements],
}
key = aws.kms.Key(
    "platform-key",
    description=f"{prefix} platform key",
    deletion_window_in_days=deletion_window,
    enable_key_rotation=key_rotation,
    policy=json.dumps(key_policy),
    tags=tags,
)
alias = aws.kms.Alias(
    "platform-key-alias", name=f"alias/{prefix}-platform", target_key_id=key.key_id
)


def security_group(name: str, description: str, ingress: list) -> aws.ec2.SecurityGroup:
    """A security group in the VPC with the given ingress rules and open egress."""
    return aws.ec2.SecurityGroup(
        f"{name}-sg",
        name=f"{prefix}-{name}",
        description=description,
        vpc_id=vpc_id,
        ingress=ingress,
        egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
        tags={**tags, "Name": f"{prefix}-{name}"},
    )


def tcp(port: int, **source) -> dict:
    return {"protocol": "tcp", "from_port": port, "to_port": port, **source}


alb_sg = security_group(
    "alb", "Load balancers", [tcp(p, cidr_blocks=ingress_cidrs) for p in (80, 443)]
)
app_sg = security_group(
    "app", "Application workloads", [tcp(app_port, security_groups=[alb_sg.id])]
)
db_sg = security_group("database", "Databases", [tcp(db_port, security_groups=[app_sg.id])])

ec2 = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}
instance_role = aws.iam.Role(
    "instance-role",
    name=f"{prefix}-instance",
    assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [ec2]}),
    tags=tags,
)
for policy in ("AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"):
    aws.iam.RolePolicyAttachment(
        f"instance-{policy}",
        role=instance_role.name,
        policy_arn=f"arn:aws:iam::aws:policy/{policy}",
    )
profile = aws.iam.InstanceProfile(
    "instance-profile", name=f"{prefix}-instance", role=instance_role.name, tags=tags
)

pulumi.export("kmsKeyArn", key.arn)
pulumi.export("kmsKeyId", key.key_id)
pulumi.export("kmsAliasName", alias.name)
pulumi.export("albSecurityGroupId", alb_sg.id)
pulumi.export("appSecurityGroupId", app_sg.id)
pulumi.export("databaseSecurityGroupId", db_sg.id)
pulumi.export("instanceRoleArn", instance_role.arn)
pulumi.export("instanceRoleName", instance_role.name)
pulumi.export("instanceProfileName", profile.name)
pulumi.export("appPort", app_port)
pulumi.export("databasePort", db_port)
