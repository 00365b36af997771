"""EC2 stack: a launch template (IMDSv2 only, encrypted gp3 root volume, the platform
instance profile and application security group) and an auto scaling group across the
private subnets that keeps average CPU at a target with a target tracking policy."""

import base64

import pulumi
import pulumi_aws as aws

STACK = "compute-ec2"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

subnet_ids = config.require_object("privateSubnetIds")
security_group_id = config.require("appSecurityGroupId")
instance_profile_name = config.require("instanceProfileName")
ami_id = config.get("amiId", "ami-0c55b159cbfafe1f0")
instance_type = config.get("instanceType", "t3.micro")
root_device_name = config.get("rootDeviceName", "/dev/xvda")
root_volume_size = config.get_int("rootVolumeSize", 20)
min_size = config.get_int("minSize", 1)
max_size = config.get_int("maxSize", 3)
desired_capacity = config.get_int("desiredCapacity", 2)
target_cpu = config.get_int("targetCpuUtilization", 60)
if not min_size <= desired_capacity <= max_size:
    raise ValueError("need minSize <= desiredCapacity <= maxSize")

# Boot script: record the deployment context on the instance.
user_data = f"""#!/bin/bash
echo DEPLOYMENT_ID={deployment_id} >> /etc/platform.env
echo ENVIRONMENT={environment} >> /etc/platform.env
"""

root_volume = {
    "volume_size": root_volume_size,
    "volume_type": "gp3",
    "encrypted": "true",
    "delete_on_termination": "true",
}
instance_tags = {**tags, "Name": f"{prefix}-app"}
launch_template = aws.ec2.LaunchTemplate(
    "app",
    name=f"{prefix}-app",
    image_id=ami_id,
    instance_type=instance_type,
    iam_instance_profile={"name": instance_profile_name},
    vpc_security_group_ids=[security_group_id],
    metadata_options={"http_endpoint": "enabled", "http_tokens": "required"},  # IMDSv2 only
    block_device_mappings=[{"device_name": root_device_name, "ebs": root_volume}],
    user_data=base64.b64encode(user_data.encode()).decode(),
    tag_specifications=[
        {"resource_type": kind, "tags": instance_tags} for kind in ("instance", "volume")
    ],
    update_default_version=True,
    tags=tags,
)

# The group itself gets no `tags`: they are a list of {key, value, propagateAtLaunch}, not
# the deployment's tag map; its instances and volumes are tagged by the launch template.
group = aws.autoscaling.Group(
    "app",
    name=f"{prefix}-app",
    vpc_zone_identifiers=subnet_ids,
    min_size=min_size,
    max_size=max_size,
    desired_capacity=desired_capacity,
    launch_template={"id": launch_template.id, "version": "$Latest"},
    health_check_type="EC2",
    health_check_grace_period=300,
)

cpu_metric = {"predefined_metric_type": "ASGAverageCPUUtilization"}
aws.autoscaling.Policy(
    "cpu-target",
    name=f"{prefix}-app-cpu",
    autoscaling_group_name=group.name,
    policy_type="TargetTrackingScaling",
    target_tracking_configuration={
        "target_value": target_cpu,
        "predefined_metric_specification": cpu_metric,
    },
)

pulumi.export("autoScalingGroupName", group.name)
pulumi.export("autoScalingGroupArn", group.arn)
pulumi.export("launchTemplateId", launch_template.id)
