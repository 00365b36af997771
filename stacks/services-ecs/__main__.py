"""ECS stack: an ECS cluster with Fargate capacity providers (Container Insights optional),
and the shared ingress for its services: an internet-facing application load balancer in
the public subnets, an IP target group on the application port and an HTTP listener."""

import pulumi
import pulumi_aws as aws

STACK = "services-ecs"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

vpc_id = config.require("vpcId")
public_subnet_ids = config.require_object("publicSubnetIds")
alb_security_group_id = config.require("albSecurityGroupId")
app_port = config.require_int("appPort")
container_insights = config.get_bool("containerInsights", True)
health_check_path = config.get("healthCheckPath", "/")
idle_timeout = config.get_int("idleTimeoutSeconds", 60)
deregistration_delay = config.get_int("deregistrationDelaySeconds", 30)
deletion_protection = config.get_bool("deletionProtection", False)

insights = "enabled" if container_insights else "disabled"
cluster = aws.ecs.Cluster(
    "cluster",
    name=f"{prefix}-cluster",
    settings=[{"name": "containerInsights", "value": insights}],
    tags=tags,
)

aws.ecs.ClusterCapacityProviders(
    "cluster-capacity",
    cluster_name=cluster.name,
    capacity_providers=["FARGATE", "FARGATE_SPOT"],
    default_capacity_provider_strategies=[{"capacity_provider": "FARGATE", "base": 1, "weight": 1}],
)

# Load balancer and target group names are limited to 32 characters.
alb = aws.lb.LoadBalancer(
    "alb",
    name=f"{prefix}-alb"[:32],
    load_balancer_type="application",
    internal=False,
    subnets=public_subnet_ids,
    security_groups=[alb_security_group_id],
    idle_timeout=idle_timeout,
    drop_invalid_header_fields=True,
    enable_deletion_protection=deletion_protection,
    tags=tags,
)

target_group = aws.lb.TargetGroup(
    "app-tg",
    name=f"{prefix}-app"[:32],
    vpc_id=vpc_id,
    target_type="ip",
    protocol="HTTP",
    port=app_port,
    deregistration_delay=deregistration_delay,
    health_check={
        "path": health_check_path,
        "matcher": "200-399",
        "interval": 15,
        "healthy_threshold": 2,
        "unhealthy_threshold": 3,
    },
    tags=tags,
)

listener = aws.lb.Listener(
    "http",
    load_balancer_arn=alb.arn,
    port=80,
    protocol="HTTP",
    default_actions=[{"type": "forward", "target_group_arn": target_group.arn}],
    tags=tags,
)

pulumi.export("clusterArn", cluster.arn)
pulumi.export("clusterName", cluster.name)
pulumi.export("albArn", alb.arn)
pulumi.export("albDnsName", alb.dns_name)
pulumi.export("albZoneId", alb.zone_id)
pulumi.export("targetGroupArn", target_group.arn)
pulumi.export("targetGroupPort", target_group.port)
pulumi.export("listenerArn", listener.arn)
